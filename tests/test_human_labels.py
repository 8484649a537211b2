"""The ``human_labels`` file: what the report's review mode downloads and a run reads back."""

from __future__ import annotations

import json

import pytest

from ftdecide.compare._human_labels import load_human_labels, parse_label
from ftdecide.errors import DataError


def _write(tmp_path, text: str, name: str = "labels.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_as_review_mode_writes_it(tmp_path):
    # CRLF, a quoted comment with a comma, a doubled quote and a line break inside it
    path = _write(tmp_path, 'id,label,comment\r\n3,pass,\r\n7,fail,"too stiff, ""per our policy""\r\nnot us"\r\n'
                            '12,PASS,ok\r\n')
    assert load_human_labels(path) == {("3", None): "pass", ("7", None): "fail", ("12", None): "pass"}


def test_csv_five_point_scale_any_column_order_bom_and_blank_lines(tmp_path):
    path = _write(tmp_path, "\ufeffcomment,label,id,extra\n\nfine,5,a-1,x\n,1,a-2,\n,4.0,a-3,\n")
    assert load_human_labels(path) == {("a-1", None): 5, ("a-2", None): 1, ("a-3", None): 4}


def test_an_arm_column_says_whose_answer_was_marked(tmp_path):
    path = _write(tmp_path, "id,arm,label,comment\n3,fewshot,pass,\n3,finetuned,fail,\n4,,pass,\n")
    assert load_human_labels(path) == {("3", "fewshot"): "pass", ("3", "finetuned"): "fail", ("4", None): "pass"}
    with pytest.raises(DataError, match=r"id '3' \(fewshot\) is labelled twice \(first on line 2\)"):
        load_human_labels(_write(tmp_path, "id,arm,label\n3,fewshot,pass\n3,fewshot,fail\n"))


def test_jsonl(tmp_path):
    rows = [{"id": "1", "label": 4, "comment": "good"}, {"id": 2, "label": "2"}]
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    assert load_human_labels(_write(tmp_path, text, "l.jsonl")) == {("1", None): 4, ("2", None): 2}


@pytest.mark.parametrize("value, label", [("pass", "pass"), (" Fail ", "fail"), ("3", 3), (5, 5), (2.0, 2),
                                          ("0", None), (6, None), (2.5, None), (True, None), ("ok", None),
                                          ("nan", None), (None, None), ("", None)])
def test_parse_label(value, label):
    assert parse_label(value) == label


@pytest.mark.parametrize("text, line, words", [
    ("id,score\n1,pass\n", 1, "no label column"),
    ("label\npass\n", 1, "no id column"),
    ("id,label\n1,pass\n2,maybe\n", 3, "'maybe'"),
    ("id,label\n1,pass\n\n1,fail\n", 4, "labelled twice (first on line 2)"),
    ("id,label\n1,pass\n2,4\n", 3, "another scale than line 2"),
    ("id,label\n,pass\n", 2, "no id"),
    ("id,label,comment\n1\n", 2, "id '1' has no label"),
    ('id,label,comment\n1,pass,"two\nlines"\n2,7,x\n', 4, "'7'"),  # the row's first line, after a 2-line row
    ("id,label\n", None, "no labelled rows"),
])
def test_bad_csv_names_the_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as exc:
        load_human_labels(path)
    assert exc.value.path == str(path) and exc.value.line == line
    assert words in exc.value.message
    assert exc.value.hint


@pytest.mark.parametrize("text, line, words", [
    ('{"id": "1", "label": "pass"}\n{"id": "2", "label": \n', 2, "not valid JSON"),
    ('{"id": "1", "label": "pass"}\n["2", "fail"]\n', 2, "expected a JSON object"),
    ('{"id": {"x": 1}, "label": "pass"}\n', 1, "id must be text"),
    ('{"id": "1"}\n', 1, "id '1' has no label"),
])
def test_bad_jsonl_names_the_line(tmp_path, text, line, words):
    path = _write(tmp_path, text, "labels.jsonl")
    with pytest.raises(DataError) as exc:
        load_human_labels(path)
    assert exc.value.line == line and words in exc.value.message


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(DataError, match="no such human_labels file"):
        load_human_labels(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not UTF-8"):
        load_human_labels(_write(tmp_path, "id,label\n1,pass,é\n", encoding="latin-1"))
