"""The bundled voice example: well-formed free-text data, clean splits, a valid config,
a generator that reproduces it exactly, and a report that shows the judge's empty state."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import ftdecide.data as data
from ftdecide.cli.compare import example_config
from ftdecide.cli.main import cli
from ftdecide.compare import build_config
from ftdecide.compare._config import read_file_lines
from ftdecide.data._tokens import count_texts
from ftdecide.examples import EXAMPLES_DIR, example_names, example_path, load_task
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "make_voice_example.py"
GENERATED = ("train.jsonl", "eval.jsonl", "task.yaml")
SEED = 20251205
HEADER = re.compile(r"\ACustomer: (?P<first>\S+) [^,\n]+, [^\n]+\nAgent: (?P<agent>\S+)\n\nDraft:\n\S")
# the facts a rewrite must carry over exactly: money, invoice numbers, dates, e-mail addresses
FACTS = re.compile(r"[$€£][\d,]+\.\d\d|INV-\d{4}-\d{4}|\b\d{1,2} (?:January|February|March|April|May|June|"
                   r"July|August|September|October|November|December)\b|\S+@\S+\.\w+")


def _rows(part: str) -> list[dict]:
    lines = example_path("voice", part).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {"train": _rows("train"), "eval": _rows("eval")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("voice_gen")
    proc = subprocess.run([sys.executable, str(GENERATOR), "--seed", str(SEED), "--out", str(out)],
                          capture_output=True, text=True, encoding="utf-8", check=True, timeout=120)
    return out, proc.stdout


def test_voice_is_a_bundled_example_with_every_part() -> None:
    assert "voice" in example_names()
    for part in ("train", "eval", "corpus", "task", "dir"):
        assert example_path("voice", part).exists(), part
    assert Path(example_config("voice")) == EXAMPLES_DIR / "voice" / "compare.yaml"


def test_task_yaml() -> None:
    task = load_task("voice")
    assert task["name"] == "voice" and task["description"]
    assert (task["train"], task["eval"], task["corpus"]) == ("train.jsonl", "eval.jsonl", "corpus")
    assert task["metric"] == "rouge-l" and task["answer_format"] == "text"
    assert len(task["system_prompt"]) < 400


def test_compare_config_is_valid_and_runs_offline_on_the_embedded_model() -> None:
    path = example_config("voice")
    values, lines = read_file_lines(path)
    config = build_config(values, source=path, lines=lines)
    assert config.model == "hf/smollm2-135m"
    assert config.metric == "rouge-l"  # registered by the reference-metrics change
    assert config.tune == {"options": {"max_steps": 12}}  # a short schedule, as in triage
    assert config.arms == ("zeroshot", "fewshot", "finetuned") and config.baseline == "fewshot"
    assert config.eval_limit and config.eval_limit <= 20  # replies are long: a few minutes on 2 cores
    # no reference rewrite would be cut off: SmolLM2's tokenizer needs about a fifth more tokens
    # than the o200k/cl100k count here (measured: at most 90 against 74)
    refs = [r["messages"][2]["content"] for r in _rows("train") + _rows("eval")]
    assert config.max_tokens >= 1.25 * max(count_texts(refs))
    assert Path(config.train).is_file() and Path(config.corpus).is_dir()


@pytest.mark.parametrize("part", ["train", "eval"])
def test_every_line_is_a_chat_example_in_the_voice(part: str, splits: dict[str, list[dict]]) -> None:
    task = load_task("voice")
    for i, row in enumerate(splits[part], 1):
        msgs = row["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"], f"{part}:{i}"
        assert msgs[0]["content"] == task["system_prompt"], f"{part}:{i}"
        head = HEADER.match(msgs[1]["content"])
        assert head, f"{part}:{i}: the prompt names customer, agent and draft"
        reference = msgs[2]["content"]
        # the voice's frame: first name, three paragraphs, the agent's sign-off
        assert reference.startswith(f"Hi {head['first']},\n\n"), f"{part}:{i}"
        assert reference.endswith(f"\n\n{head['agent']}, Northwind Support"), f"{part}:{i}"
        assert reference.count("\n\n") == 3, f"{part}:{i}"
        assert 20 <= len(reference.split()) <= 70, f"{part}:{i}"
        for banned in ("kindly", "please be advised", "!", "LMK", "ASAP", "txn"):
            assert banned.lower() not in reference.lower(), f"{part}:{i}: {banned!r}"
        # a rewrite never invents a fact the draft lacks
        draft = msgs[1]["content"]
        for fact in FACTS.findall(reference):
            assert fact in draft, f"{part}:{i}: {fact!r} is not in the draft"


def test_drafts_come_in_every_register(splits: dict[str, list[dict]]) -> None:
    jargon = ("LMK", "BR,", "NW Support", "Cheers,")
    for part, rows in splits.items():
        drafts = [r["messages"][1]["content"].split("Draft:\n", 1)[1] for r in rows]
        assert sum(d.startswith("Dear ") for d in drafts) >= len(drafts) / 8, part
        assert sum("sorry" in d.lower() or "apologi" in d.lower() for d in drafts) >= len(drafts) / 8, part
        assert sum(len(d.split()) < 30 for d in drafts) >= len(drafts) / 8, part  # curt ones
        assert sum(any(m in d for m in jargon) for d in drafts) >= len(drafts) / 8, part


def test_counts_and_no_leak_between_splits(splits: dict[str, list[dict]]) -> None:
    assert 250 <= len(splits["train"]) <= 400
    assert 50 <= len(splits["eval"]) <= 70
    report = data.audit(example_path("voice", "train"), example_path("voice", "eval"))
    assert report.leaked == [] and report.near_leaked == []
    labels = report.to_dict()["labels"]
    assert labels["categorical"] is False and labels["kind"] == "text"  # free text: no trivial baseline
    refs = Counter(r["messages"][2]["content"] for r in splits["train"] + splits["eval"])
    assert refs.most_common(1)[0][1] == 1  # every reference is its own


def test_corpus_is_the_voice_guide() -> None:
    docs = sorted(example_path("voice", "corpus").glob("*.md"))
    assert [d.name for d in docs] == ["voice-guide.md"]
    text = docs[0].read_text(encoding="utf-8")
    assert 300 <= len(text.split()) <= 700
    assert "Northwind Support" in text and "Apologi" in text


def test_card_states_the_committed_tables(generated: tuple[Path, str]) -> None:
    _, tables = generated
    card = (EXAMPLES_DIR / "voice" / "README.md").read_text(encoding="utf-8")
    assert tables.strip() and tables.strip() in card
    assert "Apache-2.0" in card and str(SEED) in card


def test_generator_reproduces_the_committed_files(generated: tuple[Path, str]) -> None:
    out, _ = generated
    for name in GENERATED:
        assert (out / name).read_bytes() == (example_path("voice", "dir") / name).read_bytes(), (
            f"{name} differs from the generator's output; run scripts/make_voice_example.py")
    check = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, timeout=120)
    assert check.returncode == 0


def _reply(request: dict) -> str:
    """A middling rewrite: the right greeting and sign-off around the draft's first sentence."""
    user = [m["content"] for m in request["messages"] if m["role"] == "user"][-1]
    head = HEADER.match(user)
    body = user.split("Draft:\n", 1)[1].split("\n\n")
    return f"Hi {head['first']},\n\n{body[min(1, len(body) - 1)]}\n\n{head['agent']}, Northwind Support"


def test_voice_run_report_shows_no_judge_configured(tmp_path, monkeypatch) -> None:
    """The voice data through a real run (local server, real openai SDK) and its report."""
    with OpenAICompatibleServer(responder=_reply) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-voice")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        set_registry(Registry())
        result = CliRunner().invoke(cli, [
            "compare", "--train", str(example_path("voice", "train")), "--eval", str(example_path("voice", "eval")),
            "--model", "openai/gpt-4o-mini-2024-07-18", "--arms", "zeroshot,fewshot", "--shots", "2",
            "--eval-limit", "6", "--metric", "f1", "--out", str(tmp_path / "reports"), "--json"],
            catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert 0 < out["arms"]["zeroshot"]["quality"]["mean"] < 1  # free text: partial credit
    html = Path(out["report"]).read_text(encoding="utf-8")
    assert '<section id="judge"' in html and "No judge configured." in html
    assert "judge:\n  model: " in html and "scale: 5" in html
    assert f"human_labels: human_labels-{out['run_id']}.csv" in html
    assert 'id="review"' in html
