"""Tests of ftdecide.data: formats, the cookbook checks, line numbers, robustness.

Every file is built in tmp_path so each test shows the exact bytes it feeds
in and the exact lines it expects back.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftdecide.data as data
from ftdecide.data import _parallel, _read, _validate
from ftdecide.data import _tokens as tokens
from ftdecide.errors import DataError, UsageError


def ex(user: str = "q", assistant: str = "a", system: str | None = None) -> dict[str, Any]:
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def write(path: Path, lines: list[bytes], *, end: bytes = b"\n") -> Path:
    path.write_bytes(b"\n".join(lines) + end)
    return path


def good_lines(n: int, prefix: str = "q") -> list[bytes]:
    return [line(ex(f"{prefix} {i}", f"answer {i}", system="be brief")) for i in range(n)]


# -- planted errors -----------------------------------------------------------------------

PLANTED: dict[str, bytes] = {
    "data_type": b"[1, 2, 3]",
    "missing_messages_list": line({"messages": []}),
    "message_missing_key": line({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}),
    "message_unrecognized_key": line(
        {"messages": [{"role": "user", "content": "q", "extra": 1}, {"role": "assistant", "content": "a"}]}
    ),
    "unrecognized_role": line({"messages": [{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}]}),
    "missing_content": line({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}),
    "example_missing_assistant_message": line({"messages": [{"role": "user", "content": "q"}]}),
    "invalid_json": b'{"messages": [',
    "invalid_weight": line(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}]}
    ),
    "encoding_error": b'{"messages": "\xff\xfe"}',
}


def test_one_planted_error_of_each_category(tmp_path: Path) -> None:
    lines = good_lines(12)
    expected: dict[str, list[int]] = {}
    for category, bad in PLANTED.items():
        lines.append(b"")  # blank lines are skipped but still numbered
        lines.append(bad)
        expected[category] = [len(lines)]
        lines.append(good_lines(1, prefix=category)[0])
    report = data.validate(write(tmp_path / "train.jsonl", lines))
    assert report.errors == {c: expected[c] for c in data.ERROR_CATEGORIES if c in expected}
    assert set(report.errors) <= set(data.ERROR_CATEGORIES)
    assert report.valid is False
    assert report.examples == 12 + len(PLANTED)
    assert report.format == "chat"
    assert report.to_dict()["valid"] is False


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        # role present, content key absent: message_missing_key only (no missing_content)
        ([{"role": "user"}, {"role": "assistant", "content": "a"}], ["message_missing_key"]),
        # role absent: message_missing_key only (no unrecognized_role)
        ([{"content": "q"}, {"role": "assistant", "content": "a"}], ["message_missing_key"]),
        # content present but not a string
        ([{"role": "user", "content": ["q"]}, {"role": "assistant", "content": "a"}], ["missing_content"]),
        ([{"role": "user", "content": None}, {"role": "assistant", "content": "a"}], ["missing_content"]),
        # cookbook: empty content is fine with a function_call
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "function_call": {"name": "f"}}], []),
        # a message that is not an object is data_type
        (["hello", {"role": "assistant", "content": "a"}], ["data_type"]),
        # several categories on one record are each reported
        (
            [{"role": "bot", "content": "", "x": 1}],
            ["message_unrecognized_key", "unrecognized_role", "missing_content", "example_missing_assistant_message"],
        ),
        # weight: only 0/1, only on assistant, booleans rejected
        ([{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}], ["invalid_weight"]),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": True}], ["invalid_weight"]),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}], []),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 1.0}], []),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "name": "bob"}], []),
        # a lone surrogate escape cannot be uploaded as UTF-8
        ([{"role": "user", "content": "\ud800"}, {"role": "assistant", "content": "a"}], ["encoding_error"]),
    ],
)
def test_message_rules(tmp_path: Path, messages: list[Any], expected: list[str]) -> None:
    path = write(tmp_path / "t.jsonl", [line({"messages": messages})])
    assert list(data.iter_records(path)) == [(1, None if expected else messages, expected)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"messages": NaN}', "invalid_json"),
        (b'{"messages": [{"role": "assistant", "content": "a", "weight": Infinity}]}', "invalid_json"),
        (b'"just a string"', "data_type"),
        (b"null", "data_type"),
        (b'{"messages": {"role": "user"}}', "missing_messages_list"),
        (b'{"other": 1}', "missing_messages_list"),
        (b"\x00\x01\x02", "invalid_json"),
        (b"\xc3\x28", "encoding_error"),
    ],
)
def test_line_level_categories(tmp_path: Path, raw: bytes, expected: str) -> None:
    path = write(tmp_path / "t.jsonl", [raw])
    assert list(data.iter_records(path)) == [(1, None, [expected])]


# -- a valid file with warnings -------------------------------------------------------------


def test_valid_file_with_duplicate_and_over_limit(tmp_path: Path) -> None:
    lines = good_lines(60)
    lines[40] = lines[7]  # duplicate of line 8, at line 41
    long_example = ex("tell me a long story", "once upon a time " * 40, system="be brief")
    lines[49] = line(long_example)  # line 50
    normal_max = max(tokens.count_messages(json.loads(x)["messages"]) for x in lines if x != lines[49])
    long_tokens = tokens.count_messages(long_example["messages"])
    limit = normal_max + 5
    assert long_tokens > limit
    report = data.validate(write(tmp_path / "train.jsonl", lines), token_limit=limit, batch_size=7)
    assert report.valid
    assert report.errors == {}
    assert report.examples == 60
    assert report.warnings == {"duplicate_example": [41], "over_token_limit": [50]}
    all_tokens = [tokens.count_messages(json.loads(x)["messages"]) for x in lines]
    assert report.tokens_total == sum(all_tokens)
    assert report.tokens_capped_total == sum(min(limit, t) for t in all_tokens)
    assert report.stats["tokens_total"] == report.tokens_total
    assert report.token_limit == limit
    d = report.to_dict()
    assert set(d) == {"file", "format", "valid", "examples", "errors", "warnings", "stats", "encoding", "token_limit"}
    json.dumps(d)  # JSON-ready


def test_missing_system_and_user_warnings(tmp_path: Path) -> None:
    lines = good_lines(50)
    lines[2] = line(ex("q2", "a2"))  # no system
    lines[4] = line({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]})
    report = data.validate(write(tmp_path / "t.jsonl", lines))
    assert report.warnings == {"missing_system_message": [3], "missing_user_message": [5]}
    assert report.stats["examples_missing_system"] == 1
    assert report.stats["examples_missing_user"] == 1


def test_few_and_too_few_examples(tmp_path: Path) -> None:
    few = data.validate(write(tmp_path / "few.jsonl", good_lines(20)))
    assert few.valid and few.warnings == {"few_examples": []}
    too_few = data.validate(write(tmp_path / "too_few.jsonl", good_lines(9)))
    assert too_few.errors == {"too_few_examples": []}
    assert "few_examples" not in too_few.warnings
    assert not too_few.valid
    custom = data.validate(tmp_path / "too_few.jsonl", min_examples=5, warn_below=9)
    assert custom.valid and custom.warnings == {}


# -- formats ------------------------------------------------------------------------------


def test_prompt_completion_jsonl(tmp_path: Path) -> None:
    lines = [line({"prompt": f"p{i}", "completion": f"c{i}"}) for i in range(12)]
    lines.insert(3, b"   ")
    lines.insert(5, line({"prompt": "only a prompt"}))  # line 6
    lines.insert(7, line({"prompt": "p", "completion": 5}))  # line 8
    path = write(tmp_path / "pc.jsonl", lines)
    assert data.detect_format(path) == "prompt-completion"
    report = data.validate(path)
    assert report.format == "prompt-completion"
    assert report.errors == {"message_missing_key": [6], "missing_content": [8]}
    examples = data.load_examples(path, limit=3)
    assert [e.line for e in examples] == [1, 2, 3]
    assert examples[0].messages == [{"role": "user", "content": "p0"}, {"role": "assistant", "content": "c0"}]
    assert [e.line for e in data.load_examples(path, limit=4)] == [1, 2, 3, 5]


def test_csv_with_multiline_quoted_field(tmp_path: Path) -> None:
    text = (
        "system,prompt,completion\n"  # 1
        "be brief,hello,hi\n"  # 2
        '"",\"multi\nline\nprompt\",answer\n'  # 3-5
        "\n"  # 6 blank
        ",q,\n"  # 7: empty completion
        'sys,"a, with comma","b ""quoted"""\n'  # 8
        "x,short\n"  # 9: no completion cell
    )
    path = tmp_path / "train.csv"
    path.write_text(text, encoding="utf-8")
    assert data.detect_format(path) == "csv"
    records = list(data.iter_records(path))
    assert [(r[0], r[2]) for r in records] == [
        (2, []),
        (3, []),
        (7, ["missing_content"]),
        (8, []),
        (9, ["message_missing_key"]),
    ]
    assert records[0][1] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
    ]
    assert records[1][1] == [
        {"role": "user", "content": "multi\nline\nprompt"},
        {"role": "assistant", "content": "answer"},
    ]
    assert records[3][1][2] == {"role": "assistant", "content": 'b "quoted"'}
    report = data.validate(path, min_examples=1, warn_below=1)
    assert report.format == "csv"
    assert report.errors == {"message_missing_key": [9], "missing_content": [7]}
    assert report.warnings == {"missing_system_message": [3]}


def test_csv_input_output_columns_bom_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfInput , OUTPUT\r\nq,a\r\nq2,\xff\r\n")
    report = data.validate(path, min_examples=1)
    assert report.errors == {"encoding_error": [3]}
    assert report.warnings["bom"] == [1]
    assert data.load_examples(path, limit=1)[0].messages[1] == {"role": "assistant", "content": "a"}


def test_csv_without_columns_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("question,answer\nq,a\n")
    with pytest.raises(DataError) as info:
        data.validate(path)
    assert "t.csv:1" in str(info.value) and "prompt" in (info.value.hint or "")


def test_csv_header_only_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("prompt,completion\n\n")
    assert data.validate(path).errors == {"empty_file": []}


def test_explicit_format_overrides(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("prompt,completion\nq,a\n")
    assert data.detect_format(path) == "chat"
    assert [r[0] for r in data.iter_records(path, fmt="csv")] == [2]
    pc = write(tmp_path / "pc.jsonl", [line({"prompt": "p", "completion": "c"})])
    assert list(data.iter_records(pc, fmt="chat")) == [(1, None, ["missing_messages_list"])]
    with pytest.raises(UsageError):
        data.validate(pc, fmt="parquet")


def test_detection_uses_first_object_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [b"garbage", b"[1]", line({"prompt": "p", "completion": "c"})])
    assert data.detect_format(path) == "prompt-completion"
    only_garbage = write(tmp_path / "g.jsonl", [b"garbage"])
    assert data.detect_format(only_garbage) == "chat"
    assert data.validate(only_garbage).format == "chat"


def test_to_chat_jsonl(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text('system,prompt,completion\ns,"two\nlines",a\n,q,b\n')
    out = tmp_path / "out.jsonl"
    assert data.to_chat_jsonl(src, out) == 2
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["messages"][1] == {"role": "user", "content": "two\nlines"}
    assert len(rows[1]["messages"]) == 2
    bad = write(tmp_path / "bad.jsonl", good_lines(2) + [b"{oops"])
    out2 = tmp_path / "out2.jsonl"
    with pytest.raises(DataError) as info:
        data.to_chat_jsonl(bad, out2)
    assert "bad.jsonl:3" in str(info.value) and "invalid_json" in str(info.value)
    assert not out2.exists() and not (tmp_path / "out2.jsonl.part").exists()
    with pytest.raises(DataError):
        data.to_chat_jsonl(src, tmp_path / "no" / "such" / "dir.jsonl")


# -- robustness ---------------------------------------------------------------------------


def test_bom_and_blank_lines(tmp_path: Path) -> None:
    lines = good_lines(12)
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines.insert(2, b"\t \r")
    lines.insert(5, b"")
    path = write(tmp_path / "t.jsonl", lines, end=b"\r\n\n\n")
    report = data.validate(path)
    assert report.errors == {}
    assert report.warnings == {"bom": [1], "few_examples": []}
    assert [r[0] for r in data.iter_records(path)] == [1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    report = data.validate(path)
    assert report.errors == {"empty_file": []}
    assert report.examples == 0
    assert report.stats["tokens_per_example"] == {}
    assert data.load_examples(path) == []


def test_binary_garbage(tmp_path: Path) -> None:
    import random

    rng = random.Random(1234)
    blob = bytes(rng.randrange(256) for _ in range(200_000)) + b"\x00" * 1000
    path = tmp_path / "t.jsonl"
    path.write_bytes(blob)
    report = data.validate(path)
    assert not report.valid
    assert set(report.errors) <= {"encoding_error", "invalid_json", "too_few_examples", "data_type"}
    flagged = sorted(n for cat, lines in report.errors.items() for n in lines)
    nonblank = [i for i, x in enumerate(blob.split(b"\n"), 1) if x.strip()]
    assert flagged == nonblank
    with pytest.raises(DataError):
        data.load_examples(path)


def test_deep_nesting(tmp_path: Path) -> None:
    depth = 100_000
    deep = b"[" * depth + b"]" * depth
    nested_in_example = b'{"messages": [{"role": "assistant", "content": "a", "function_call": ' + deep + b"}]}"
    path = write(tmp_path / "t.jsonl", good_lines(1) + [deep, nested_in_example])
    assert [(n, errs) for n, _, errs in data.iter_records(path)] == [(1, []), (2, ["invalid_json"]), (3, ["invalid_json"])]


def test_fifty_megabyte_line(tmp_path: Path) -> None:
    big = "x" * (50 * 1024 * 1024)
    path = tmp_path / "t.jsonl"
    with open(path, "wb") as f:
        f.write(good_lines(1)[0] + b"\n")
        # Valid JSON, parsed as usual, but no assistant message: no 50 MB tokenisation.
        f.write(b'{"messages": [{"role": "user", "content": "' + big.encode() + b'"}]}\n')
        f.write(b'{"messages": [{"role": "user", "content": "' + big.encode() + b'\n')  # unterminated
        f.write(good_lines(1, "z")[0] + b"\n")
    del big
    start = time.perf_counter()
    seen: list[int] = []
    report = data.validate(path, min_examples=1, warn_below=1, progress=seen.append)
    assert time.perf_counter() - start < 15
    assert report.errors == {"example_missing_assistant_message": [2], "invalid_json": [3]}
    assert report.examples == 2
    assert seen and seen[-1] == path.stat().st_size


def test_line_over_the_cap_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "MAX_LINE_BYTES", 1000)
    path = write(tmp_path / "t.jsonl", good_lines(1) + [line(ex("y" * 5000))] + good_lines(1, "z"))
    assert [(n, errs) for n, _, errs in data.iter_records(path)] == [(1, []), (2, ["invalid_json"]), (3, [])]
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("prompt,completion\nq,a\n" + "p," + "y" * 5000 + "\n\nq,a\n")
    assert [(n, errs) for n, _, errs in data.iter_records(csv_path)] == [(2, []), (3, ["invalid_json"]), (5, [])]


@pytest.mark.parametrize("name", ["nope.jsonl", "nope.csv", ""])
def test_unusable_paths_are_data_errors(tmp_path: Path, name: str) -> None:
    path = tmp_path / name if name else tmp_path  # "" → the directory itself
    for call in (data.validate, data.detect_format, data.load_examples, lambda p: list(data.iter_records(p))):
        with pytest.raises(DataError) as info:
            call(path)
        assert str(path) in str(info.value) and info.value.hint


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", good_lines(1))
    path.chmod(0)
    try:
        with pytest.raises(DataError, match="permission"):
            data.validate(path)
    finally:
        path.chmod(0o644)


def test_load_examples_error_names_file_line_category(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", good_lines(3) + [b"", PLANTED["unrecognized_role"]])
    assert len(data.load_examples(path, limit=3)) == 3
    with pytest.raises(DataError) as info:
        data.load_examples(path)
    err = info.value
    assert err.line == 5 and err.path == str(path)
    assert "unrecognized_role" in str(err) and err.hint and "role must be" in err.hint
    assert err.exit_code == 2


def test_unknown_encoding_fails_fast(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        data.validate(write(tmp_path / "t.jsonl", good_lines(1)), encoding="nope")


# -- stats --------------------------------------------------------------------------------


def test_stats_hand_computed(tmp_path: Path) -> None:
    examples = [
        [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi there"}],
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ],
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "a question", "name": "ann"},
            {"role": "assistant", "content": "an answer that is a bit longer", "weight": 1},
            {"role": "user", "content": "more"},
            {"role": "assistant", "content": "ok", "weight": 0},
        ],
    ]
    path = write(tmp_path / "t.jsonl", [line({"messages": m}) for m in examples])
    report = data.validate(path, encoding="cl100k_base", min_examples=1, warn_below=1, batch_size=2)
    enc = tokens.get_encoding("cl100k_base")
    totals = [tokens.count_messages(m, "cl100k_base") for m in examples]
    # Spell the cookbook formula out once, for the first example.
    assert totals[0] == 3 + (3 + 1 + len(enc.encode("hello"))) + (3 + 1 + len(enc.encode("hi there")))
    asst = [sum(len(enc.encode(x["content"])) for x in m if x["role"] == "assistant") for m in examples]
    assert report.tokens_total == sum(totals)
    assert report.stats["messages_per_example"] == {"min": 2, "max": 5, "mean": 10 / 3, "median": 3, "p5": 2.1, "p95": 4.8}
    t = sorted(totals)
    assert report.stats["tokens_per_example"] == pytest.approx(
        {"min": t[0], "max": t[2], "mean": sum(t) / 3, "median": t[1],
         "p5": t[0] + 0.1 * (t[1] - t[0]), "p95": t[1] + 0.9 * (t[2] - t[1])}
    )
    a = sorted(asst)
    assert report.stats["assistant_tokens_per_example"]["median"] == a[1]
    assert report.stats["examples_missing_system"] == 1
    assert report.warnings == {"missing_system_message": [1]}


def numpy_linear(values: list[int], p: float) -> float:
    """numpy.percentile(values, p) (method="linear"), for checking."""
    xs = sorted(values)
    h = (len(xs) - 1) * p / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60))
def test_distribution_matches_numpy_linear(values: list[int]) -> None:
    dist = _validate._distribution(Counter(values))
    assert dist["min"] == min(values) and dist["max"] == max(values)
    assert dist["mean"] == pytest.approx(sum(values) / len(values))
    for key, p in (("median", 50), ("p5", 5), ("p95", 95)):
        assert dist[key] == pytest.approx(numpy_linear(values, p))


# -- property: never raises, lines point at the bad lines -----------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40
)
_good = st.builds(
    lambda u, a, s: line(ex(u or "q", a or "a", system=s)),
    _text,
    _text,
    st.none() | _text.filter(bool),
)
_garbage_text = _text.map(lambda s: s.encode("utf-8"))
_garbage_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))
_blank = st.sampled_from([b"", b"  ", b"\t", b" \r"])
_planted = st.sampled_from(sorted(PLANTED.values()))
_item = st.one_of(
    st.tuples(st.just("good"), _good),
    st.tuples(st.just("bad"), _garbage_text | _garbage_bytes | _planted),
    st.tuples(st.just("blank"), _blank),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_item, max_size=30))
def test_property_error_lines_are_exactly_the_bad_lines(tmp_path: Path, items: list[tuple[str, bytes]]) -> None:
    path = tmp_path / "prop.jsonl"
    raw = b"\n".join(b for _, b in items)
    path.write_bytes(raw)
    report = data.validate(path, batch_size=4)
    good, bad = set(), set()
    for number, (kind, content) in enumerate(items, 1):
        if kind == "blank" or not content.strip():
            continue
        if number == 1 and content.startswith(b"\xef\xbb\xbf"):
            content = content[3:]
            if not content.strip():
                continue
        (good if kind == "good" else bad).add(number)
    flagged = {n for lines in report.errors.values() for n in lines}
    assert flagged == bad
    assert report.examples == len(good)
    file_level = {c for c, lines in report.errors.items() if not lines}
    assert file_level <= {"empty_file", "too_few_examples"}
    assert ("empty_file" in file_level) == (not good and not bad)
    # iter_records agrees with validate
    records = list(data.iter_records(path))
    assert {n for n, m, errs in records if errs} == bad
    assert {n for n, m, errs in records if m is not None} == good


def test_permission_error_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_read, "open", refuse, raising=False)
    with pytest.raises(DataError, match="permission denied") as info:
        data.validate(write(tmp_path / "t.jsonl", good_lines(1)))
    assert "chmod" in (info.value.hint or "")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_property_csv_body_never_raises(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "prop.csv"
    path.write_bytes(b"prompt,completion\n" + body)
    report = data.validate(path, min_examples=0, warn_below=0)
    lines = body.count(b"\n") + 2
    for found in report.errors.values():
        assert all(2 <= n <= lines for n in found)
    assert report.examples + report.stats["invalid_records"] == report.stats["records"]


# -- the parallel path (worker processes for big JSONL files) ------------------------------

def _mixed_lines(n: int, seed: int = 0) -> list[bytes]:
    """Valid examples with repeats far apart, long ones, and every kind of bad line."""
    import random

    rng = random.Random(seed)
    words = "alpha beta gamma delta invoice login error refund upgrade timeout".split()
    planted = sorted(PLANTED.values())
    lines: list[bytes] = []
    earlier: list[bytes] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.06 and earlier:
            lines.append(rng.choice(earlier))  # a duplicate, often in another chunk
        elif roll < 0.08 and earlier:  # the same example, keys in another order: a duplicate too
            obj = json.loads(rng.choice(earlier))
            obj["messages"] = [dict(reversed(list(m.items()))) for m in obj["messages"]]
            lines.append(json.dumps(obj).encode())
        elif roll < 0.12:
            lines.append(rng.choice(planted))
        elif roll < 0.14:
            lines.append(rng.choice([b"", b"   ", b"\t\r"]))
        elif roll < 0.16:  # valid but not the usual shape: names, weights, no system
            lines.append(line({"messages": [
                {"role": "user", "content": f"u{i}", "name": "ann"},
                {"role": "assistant", "content": f"a{i}", "weight": rng.choice([0, 1])}]}))
        else:
            text = " ".join(rng.choices(words, k=rng.randint(1, 120)))
            system = "be brief" if rng.random() < 0.8 else None
            good = line(ex(text, rng.choice(["yes", "no", f"maybe {i}"]), system=system))
            lines.append(good)
            earlier.append(good)
    return lines


def _same_reports(a: data.ValidationReport, b: data.ValidationReport) -> None:
    assert a.to_dict() == b.to_dict()
    assert (a.tokens_total, a.tokens_capped_total) == (b.tokens_total, b.tokens_capped_total)


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_report_is_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      workers: int) -> None:
    # Ranges of ~8 KiB: dozens of them, so duplicates, over-limit examples and
    # bad lines fall on every side of range boundaries and on every worker.
    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 8 * 1024)
    lines = _mixed_lines(3000)
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    path = write(tmp_path / "big.jsonl", lines)
    options: dict[str, Any] = dict(token_limit=60, batch_size=50)
    serial_seen: list[int] = []
    parallel_seen: list[int] = []
    serial = data.validate(path, workers=1, progress=serial_seen.append, **options)
    parallel = data.validate(path, workers=workers, progress=parallel_seen.append, **options)
    _same_reports(serial, parallel)
    warnings = parallel.warnings
    assert len(warnings["duplicate_example"]) > 100 and len(warnings["over_token_limit"]) > 100
    assert warnings["bom"] == [1] and set(parallel.errors) == set(PLANTED)
    assert parallel_seen == sorted(parallel_seen) and len(parallel_seen) > 20
    assert parallel_seen[-1] == serial_seen[-1] == path.stat().st_size
    import multiprocessing

    assert multiprocessing.active_children() == []  # the workers are gone


def test_parallel_prompt_completion_and_edge_files(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 64)
    pc = [line({"prompt": f"p{i % 7}", "completion": f"c{i}"}) for i in range(200)]
    cases = {
        "pc.jsonl": pc[:50] + [b"not json", line({"prompt": "p"})] + pc[50:],
        "garbage-first.jsonl": [b"[1]", b"", b"nope"] + pc,
        "only-garbage.jsonl": [b"[1]", b"nope", b'"x"'],
        "blank.jsonl": [b"", b"  ", b""],
        "no-final-newline.jsonl": good_lines(30),
    }
    for name, lines in cases.items():
        path = write(tmp_path / name, lines, end=b"" if name.startswith("no-final") else b"\n")
        _same_reports(data.validate(path, workers=1), data.validate(path, workers=2))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    _same_reports(data.validate(empty, workers=1), data.validate(empty, workers=2))
    assert data.validate(tmp_path / "pc.jsonl", workers=2).format == "prompt-completion"


def test_parallel_oversized_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 300)
    lines = good_lines(5) + [line(ex("y" * 5000))] + good_lines(5, "z") + [b"x" * 3000] + good_lines(3, "w")
    path = write(tmp_path / "t.jsonl", lines)
    parallel = data.validate(path, workers=2, min_examples=1)
    _same_reports(data.validate(path, workers=1, min_examples=1), parallel)
    assert parallel.errors == {"invalid_json": [6, 12]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_item, max_size=40), st.integers(1, 200))
def test_property_parallel_equals_serial(tmp_path: Path, items: list[tuple[str, bytes]],
                                         chunk: int) -> None:
    path = tmp_path / "prop.jsonl"
    path.write_bytes(b"\n".join(b for _, b in items))
    original = _parallel._CHUNK_BYTES
    _parallel._CHUNK_BYTES = chunk
    try:
        _same_reports(data.validate(path, workers=1, batch_size=3),
                      data.validate(path, workers=2, batch_size=3))
    finally:
        _parallel._CHUNK_BYTES = original


def test_auto_parallel_only_for_big_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = _validate._validate_parallel  # what validate() calls

    def spy(reader: Any, encoding: str, batch_size: int, workers: int, *rest: Any) -> None:
        calls.append(workers)
        original(reader, encoding, batch_size, workers, *rest)

    monkeypatch.setattr(_validate, "_validate_parallel", spy)
    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 1024)
    path = write(tmp_path / "t.jsonl", good_lines(100))
    size = path.stat().st_size
    data.validate(path)
    assert calls == []  # under _PARALLEL_MIN_BYTES: in-process
    monkeypatch.setattr(_parallel, "_PARALLEL_MIN_BYTES", size)
    monkeypatch.setattr(_parallel.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_parallel.os, "process_cpu_count", lambda: 2, raising=False)
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    report = data.validate(path)
    assert calls == [2] and report.examples == 100
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("prompt,completion\n" + "q,a\n" * 2000)
    assert data.validate(csv_path, workers=4).examples == 2000  # CSV: always in-process
    data.validate(path, workers=1)
    assert calls == [2]
    with pytest.raises(UsageError, match="workers"):
        data.validate(path, workers=-1)


def _failing_range(kind: str, at_chunk: int) -> Any:
    original = _parallel._validate_range

    def fake(path: str, fmt: Any, encoding: str, batch_size: int, start: int, end: int) -> Any:
        if start >= at_chunk * _parallel._CHUNK_BYTES:
            if kind == "data":
                raise DataError("read failed: boom", path=path, line=3, hint="try again")
            if kind == "bug":
                raise ZeroDivisionError("a bug")
            if kind == "unpicklable":
                class Local(Exception):  # a local class cannot be pickled
                    pass
                raise Local("odd")
            os._exit(7)  # the worker dies
        return original(path, fmt, encoding, batch_size, start, end)

    return fake


@pytest.mark.parametrize("kind", ["data", "bug", "unpicklable", "dies"])
def test_parallel_worker_failure_is_raised_and_leaves_no_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    import multiprocessing

    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 2048)
    lines = good_lines(200)
    path = write(tmp_path / "t.jsonl", lines)
    monkeypatch.setattr(_parallel, "_validate_range", _failing_range(kind, at_chunk=3))
    expected = {"data": DataError, "bug": ZeroDivisionError, "unpicklable": RuntimeError,
                "dies": RuntimeError}[kind]
    with pytest.raises(expected) as info:
        data.validate(path, workers=2)
    if kind == "data":
        # the worker's line 3 is counted from its range's first line; the error names the file's line
        chunks = list(_parallel._chunks(str(path), 2048))
        start = next(s for s, _ in chunks if s >= 3 * 2048)
        before = path.read_bytes()[:start].count(b"\n")
        assert info.value.line == before + 3 and info.value.hint == "try again"
        assert str(info.value).startswith(f"{path}:{before + 3}: read failed: boom")
    if kind == "dies":
        assert "exit code 7" in str(info.value)
    if kind == "unpicklable":
        assert "Local('odd')" in str(info.value)
    assert multiprocessing.active_children() == []


def test_parallel_interrupt_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    monkeypatch.setattr(_parallel, "_CHUNK_BYTES", 2048)
    path = write(tmp_path / "t.jsonl", good_lines(300))

    def interrupt(done: int) -> None:
        if done > 4096:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data.validate(path, workers=2, progress=interrupt)
    assert multiprocessing.active_children() == []


def test_ctrl_c_in_a_real_process_leaves_no_worker(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    path = write(tmp_path / "t.jsonl", good_lines(4000))
    script = (
        "import multiprocessing, sys, time\n"
        "import ftdecide.data as data\n"
        "from ftdecide.data import _parallel\n"
        "_parallel._CHUNK_BYTES = 1024\n"
        "def progress(done):\n"
        "    print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n"
        "    time.sleep(30)  # Ctrl-C arrives while the workers exist\n"
        "try:\n"
        "    data.validate(sys.argv[1], workers=2, progress=progress)\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"worker {pid} outlived Ctrl-C")


# Layering: each module of ftdecide.data imports only those before it here, so
# there is no import cycle (and the tests above patch the module that reads a name).
_LAYERS = ["_tokens", "_checks", "_read", "_tally", "_parallel", "_validate"]


def test_data_modules_import_only_lower_layers() -> None:
    import ast

    folder = Path(data.__file__).parent
    for i, name in enumerate(_LAYERS):
        tree = ast.parse((folder / f"{name}.py").read_text())
        used = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("ftdecide.data."):
                    used.add(node.module.rsplit(".", 1)[1])
                elif node.module == "ftdecide.data":
                    used.update(a.name for a in node.names)
        assert used <= set(_LAYERS[:i]), (name, used - set(_LAYERS[:i]))
