"""A learning curve on a local model: `compare` with `learning_curve:` on the tiny Llama.

Each point below the full set is a local fine-tuning job (trained in this
process, recorded in the job store, priced in hardware time as `tune`'s
estimate prices it), scored through the run store; the report gets the chart.
"""

from __future__ import annotations

import json

import tiny

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry


def run(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_three_point_curve_on_a_local_model(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    set_registry(Registry())
    examples = tiny.examples()
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples[:32]))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples[32:38]))
    (tmp_path / "compare.yaml").write_text(
        f"train: train.jsonl\neval: eval.jsonl\nmodel: hf/{tiny_model_dir}\n"
        "tune: {options: {max_steps: 2, processes: 1, save_steps: 1000}}\n"
        "arms: [zeroshot, finetuned]\nbaseline: zeroshot\nmetric: exact\nmax_tokens: 4\n"
        "learning_curve: [0.5, 0.75, 1.0]\ntarget_quality: 0.9\nout: reports\n")
    code, out, err = run(capsys, "compare", "--config", tmp_path / "compare.yaml", "--yes",
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    lc = data["learning_curve"]
    assert [p["examples"] for p in lc["points"]] == [16, 24, 32]
    assert lc["points"][-1]["job_id"] == data["training"]["job_id"]
    for p in lc["points"]:
        assert p["quality"]["mean"] is not None and p["job_id"]
        # local: priced in hardware time (the estimate's first GPU row), never an unknown $0
        assert p["training_cost_usd"] is not None
        assert p["training_cost_kind"].startswith("hardware estimate")
    assert lc["fit"]["form"] in ("inverse-power", "log-linear")
    code, out, err = run(capsys, "jobs", "list", "--json")
    listed = json.dumps(json.loads(out))
    assert all(p["job_id"] in listed for p in lc["points"])
    html = open(data["report"], encoding="utf-8").read()
    assert 'id="chart-learning-curve"' in html
