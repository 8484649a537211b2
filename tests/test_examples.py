"""The bundled triage example: its data is well-formed, its splits are clean,
its corpus is usable for retrieval, and the generator reproduces it exactly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ftdecide.errors import UsageError
from ftdecide.examples import EXAMPLES_DIR, example_names, example_path, load_task

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "make_triage_example.py"
GENERATED = ("train.jsonl", "eval.jsonl", "task.yaml")
SEED = 20250611


def _rows(part: str) -> list[dict]:
    lines = example_path("triage", part).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.fixture(scope="module")
def task() -> dict:
    return load_task("triage")


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {"train": _rows("train"), "eval": _rows("eval")}


def _run_generator(out: Path, seed: int = SEED) -> str:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--seed", str(seed), "--out", str(out)],
        capture_output=True, text=True, encoding="utf-8", check=True, timeout=120,
    )
    return proc.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The generator run twice with the committed seed, into two fresh folders."""
    a = tmp_path_factory.mktemp("gen_a")
    b = tmp_path_factory.mktemp("gen_b")
    stdout = _run_generator(a)
    _run_generator(b)
    return a, b, stdout


# ---- the helper module -------------------------------------------------------


def test_example_names_lists_triage() -> None:
    assert "triage" in example_names()
    assert EXAMPLES_DIR.is_dir()


@pytest.mark.parametrize("part", ["train", "eval", "corpus", "task", "dir"])
def test_example_path_parts_exist(part: str) -> None:
    assert example_path("triage", part).exists()


def test_example_path_defaults_to_triage_train() -> None:
    assert example_path() == EXAMPLES_DIR / "triage" / "train.jsonl"


def test_unknown_example_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as exc:
        example_path("no-such-example")
    assert "triage" in (exc.value.hint or "")
    with pytest.raises(UsageError):
        load_task("no-such-example")


def test_unknown_part_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as exc:
        example_path("triage", "validation")
    assert "train" in (exc.value.hint or "") and "corpus" in (exc.value.hint or "")


def test_task_yaml(task: dict) -> None:
    assert task["name"] == "triage"
    assert task["description"]
    assert task["train"] == "train.jsonl" and task["eval"] == "eval.jsonl" and task["corpus"] == "corpus"
    assert task["metric"] == "json-fields"
    assert task["answer_format"] == "json"
    assert set(task["labels"]) == {"category", "priority"}
    assert 6 <= len(task["labels"]["category"]) <= 7
    assert task["labels"]["priority"] == ["low", "medium", "high", "urgent"]
    # Short by design: the long instructions are what few-shot and RAG add.
    assert len(task["system_prompt"]) < 400


# ---- the data ---------------------------------------------------------------


def test_counts(splits: dict[str, list[dict]]) -> None:
    assert len(splits["train"]) >= 300
    assert len(splits["eval"]) >= 100


@pytest.mark.parametrize("part", ["train", "eval"])
def test_every_line_is_a_chat_example(part: str, splits: dict[str, list[dict]], task: dict) -> None:
    for i, row in enumerate(splits[part], 1):
        assert set(row) == {"messages"}, f"{part}:{i}"
        msgs = row["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"], f"{part}:{i}"
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in msgs), f"{part}:{i}"
        assert msgs[0]["content"] == task["system_prompt"], f"{part}:{i}"
        assert msgs[1]["content"].strip(), f"{part}:{i}: empty ticket"


@pytest.mark.parametrize("part", ["train", "eval"])
def test_answers_are_compact_json_with_allowed_labels(part: str, splits: dict[str, list[dict]], task: dict) -> None:
    labels = task["labels"]
    for i, row in enumerate(splits[part], 1):
        content = row["messages"][2]["content"]
        answer = json.loads(content)
        assert set(answer) == {"category", "priority"}, f"{part}:{i}"
        assert answer["category"] in labels["category"], f"{part}:{i}"
        assert answer["priority"] in labels["priority"], f"{part}:{i}"
        assert content == json.dumps(answer), f"{part}:{i}: not the canonical one-line form"


def test_no_ticket_shared_between_or_within_splits(splits: dict[str, list[dict]]) -> None:
    train = [_norm(r["messages"][1]["content"]) for r in splits["train"]]
    eval_ = [_norm(r["messages"][1]["content"]) for r in splits["eval"]]
    assert len(set(train)) == len(train)
    assert len(set(eval_)) == len(eval_)
    assert not set(train) & set(eval_)


@pytest.mark.parametrize("field", ["category", "priority"])
def test_every_label_appears_in_both_splits(field: str, splits: dict[str, list[dict]], task: dict) -> None:
    for part, rows in splits.items():
        counts = Counter(json.loads(r["messages"][2]["content"])[field] for r in rows)
        for label in task["labels"][field]:
            assert counts[label] >= 5, f"{part}: {field}={label} appears {counts[label]} times"


def test_tickets_are_varied(splits: dict[str, list[dict]]) -> None:
    tickets = [r["messages"][1]["content"] for r in splits["train"]]
    words = [len(t.split()) for t in tickets]
    assert min(words) <= 10 and max(words) >= 120, "want one-liners and multi-paragraph tickets"
    assert sum("\n\n" in t for t in tickets) > len(tickets) / 3
    openings = Counter(t.split("\n", 1)[0] for t in tickets)
    assert openings.most_common(1)[0][1] < len(tickets) / 10


# ---- the corpus and the card -------------------------------------------------


def test_corpus_is_non_trivial(task: dict) -> None:
    docs = sorted(example_path("triage", "corpus").glob("*.md"))
    assert 8 <= len(docs) <= 12
    for doc in docs:
        n = len(doc.read_text(encoding="utf-8").split())
        assert 150 <= n <= 650, f"{doc.name}: {n} words"
    text = "\n".join(d.read_text(encoding="utf-8") for d in docs)
    # Retrieval can only help if the rules behind every label are written down.
    for label in task["labels"]["category"] + task["labels"]["priority"]:
        assert f"`{label}`" in text, label


def test_readme_states_the_committed_distribution(generated: tuple[Path, Path, str]) -> None:
    _, _, tables = generated
    readme = (EXAMPLES_DIR / "triage" / "README.md").read_text(encoding="utf-8")
    assert tables.strip() and tables.strip() in readme
    assert "Apache-2.0" in readme and str(SEED) in readme


# ---- the generator -------------------------------------------------------------


def test_generator_is_deterministic(generated: tuple[Path, Path, str]) -> None:
    a, b, _ = generated
    for name in GENERATED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_generator_reproduces_the_committed_files(generated: tuple[Path, Path, str]) -> None:
    a, _, _ = generated
    for name in GENERATED:
        committed = example_path("triage", "dir") / name
        assert (a / name).read_bytes() == committed.read_bytes(), (
            f"{name} differs from the generator's output; run scripts/make_triage_example.py"
        )


def test_another_seed_gives_other_tickets(tmp_path: Path, generated: tuple[Path, Path, str]) -> None:
    a, _, _ = generated
    _run_generator(tmp_path, seed=SEED + 1)
    assert (tmp_path / "train.jsonl").read_bytes() != (a / "train.jsonl").read_bytes()
