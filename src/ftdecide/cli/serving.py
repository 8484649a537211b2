"""``bench-serve``: measure a self-hosted model's serving throughput and store it for compare."""

from __future__ import annotations

import click

from ftdecide.cli.common import echo_json, open_catalog, prices_option


@click.command("bench-serve")
@click.option("--model", "-m", required=True, help="The model as compare calls it: hf/... (run in "
              "this process) or openai/... behind an OpenAI-compatible server (--base-url).")
@click.option("--as", "hardware", required=True, help="The hardware name to store the figures "
              "under (a class of the hardware table such as L4, or your own name with "
              "--usd-per-hour).")
@click.option("--base-url", help="An OpenAI-compatible server (vLLM, llama.cpp, TGI): "
              "http://host:port/v1 (sets OPENAI_BASE_URL for this command).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Requests in flight at once (use what the server will see).")
@click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False),
              help="Chat JSONL (or CSV) whose prompts are sent: the run's own eval set "
                   "(default: the bundled triage example's eval set).")
@click.option("--limit", type=click.IntRange(1), default=32, show_default=True,
              help="Prompts used from the file.")
@click.option("--max-tokens", type=click.IntRange(2, 4096), default=64, show_default=True,
              help="Answer tokens of the decode pass.")
@click.option("--usd-per-hour", type=click.FloatRange(0, min_open=True),
              help="The hourly rate of this hardware (needed when --as is not in the table).")
@click.option("--json", "as_json", is_flag=True, help="The stored row on stdout.")
@prices_option
def bench_serve(model: str, hardware: str, base_url: str | None, concurrency: int,
                prompts_file: str | None, limit: int, max_tokens: int,
                usd_per_hour: float | None, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Measure prefill and decode tokens/s of MODEL where it runs; store them as measured
    figures for the hardware --as names, which compare's serving: then uses.

    \b
    Example:
      ftdecide bench-serve --model openai/llama-3.2-1b --base-url http://gpu-box:8000/v1 \\
          --as L4 --concurrency 8 --prompts data/eval.jsonl
    """
    import os

    import ftdecide.data as data
    from ftdecide.data._prompts import split_example
    from ftdecide.errors import UsageError
    from ftdecide.pricing import _hardware as hw_table
    from ftdecide.pricing._bench import bench_serve as measure
    from ftdecide.pricing._benchstore import save
    from ftdecide.report._text import number, table

    if base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
    known = hw_table.entry(hardware)
    if known is None and usd_per_hour is None:
        raise UsageError(f"--as {hardware}: not a class of the hardware table, so its hourly rate "
                         "is unknown", key="--as",
                         hint=f"name one of {', '.join(hw_table.hardware_names())}, or give "
                              "--usd-per-hour")
    if known is not None and hardware != hw_table.CPU_LOCAL:
        hardware = known.get("name", hardware)
    catalog = open_catalog(price_files)
    info = catalog.resolve(model)
    if prompts_file is None:
        from ftdecide.examples import example_path

        prompts_file = str(example_path("triage", "eval"))
    prompts = [split_example(ex.messages)[0] for ex in data.load_examples(prompts_file, limit=limit)]
    row = measure(catalog.providers[info.provider], info, prompts, hardware=hardware,
                  concurrency=concurrency, max_tokens=max_tokens, usd_per_hour=usd_per_hour,
                  base_url=base_url or os.environ.get("OPENAI_BASE_URL")
                  if info.provider != "hf" else None, prompts_source=prompts_file)
    path = save(row)
    row["stored_in"] = str(path)
    if as_json:
        echo_json(row)
        return
    click.echo(f"{info.key} on {hardware}: measured with {row['requests']} prompts at "
               f"concurrency {concurrency}")
    click.echo(table(["", "tokens/s"], [["prefill", number(row["prefill_tokens_per_s"])],
                                        ["decode", number(row["decode_tokens_per_s"])]]))
    click.echo(f"stored in {path}; compare uses it for {info.key} with serving: "
               f"{{hardware: {hardware}}}")
