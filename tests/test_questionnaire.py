"""The questionnaire: the packaged questions, answer files (YAML/JSON) and the prompts."""

from __future__ import annotations

import json
import math

import click
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.assess import _questionnaire as qn
from ftdecide.errors import DataError

SCHEMA = [  # issue 7, "Answers schema", in the lesson's order
    "use_case.goal", "use_case.description", "use_case.knowledge_changes_often",
    "alternatives.few_shot.tried", "alternatives.few_shot.quality",
    "alternatives.rag.tried", "alternatives.rag.quality", "alternatives.target_quality",
    "costs.provider", "costs.model", "costs.examples_available", "costs.examples_reviewed",
    "costs.eval_set", "costs.team_can_evaluate", "costs.budget_usd",
    "costs.label_cost_usd_per_example",
    "benefits.requests_per_month", "benefits.prompt_tokens_now", "benefits.prompt_tokens_after",
    "benefits.output_tokens", "benefits.reuse_in_new_domains",
]
GOALS = ["format", "style", "task", "knowledge", "cost", "latency", "new-skill"]


def test_packaged_questions_follow_the_schema_and_the_lessons_areas():
    q = qn.load_questions()
    assert q.ids == SCHEMA
    assert list(q.areas) == ["use_case", "alternatives", "costs", "benefits"]
    assert list(q["use_case.goal"].choices) == GOALS
    assert [x.id for x in q.questions if x.required] == ["use_case.goal", "costs.model"]
    for question in q.questions:
        assert question.area == question.id.split(".")[0]
        assert question.type in ("choice", "number", "bool", "text")
        assert len(question.help.split()) >= 8, f"{question.id}: help should say why it matters"
    # follow-ups
    assert q["alternatives.few_shot.quality"].when.text == "alternatives.few_shot.tried"
    assert q["alternatives.rag.quality"].when.text == "alternatives.rag.tried"
    assert (q["alternatives.target_quality"].min, q["alternatives.target_quality"].max) == (0, 1)
    assert q["costs.examples_reviewed"].max == "costs.examples_available"


def _write(tmp_path, data, name="answers.yaml"):
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


FULL = {
    "use_case": {"goal": "format", "description": "tickets as JSON", "knowledge_changes_often": False},
    "alternatives": {"few_shot": {"tried": True, "quality": 0.7}, "rag": {"tried": False},
                     "target_quality": 0.9},
    "costs": {"provider": "openai", "model": "gpt-4.1-mini", "examples_available": 800,
              "examples_reviewed": 800, "eval_set": True, "team_can_evaluate": True, "budget_usd": 50},
    "benefits": {"requests_per_month": 2_000_000, "prompt_tokens_now": 1800, "prompt_tokens_after": 150,
                 "output_tokens": 120, "reuse_in_new_domains": False},
}


@pytest.mark.parametrize("name", ["answers.yaml", "answers.json"])
def test_reads_yaml_and_json(tmp_path, name):
    answers = qn.read_answers(_write(tmp_path, FULL, name))
    assert answers.values["alternatives.few_shot.quality"] == 0.7
    assert answers.values["benefits.requests_per_month"] == 2_000_000
    assert answers.sources["costs.model"] == f"answers {tmp_path / name}"
    assert answers.nested() == FULL


def test_json_floats_for_whole_numbers_become_ints(tmp_path):
    data = {"use_case": {"goal": "cost"}, "costs": {"model": "m", "examples_available": 800.0}}
    answers = qn.read_answers(_write(tmp_path, data, "a.json"))
    assert answers.values["costs.examples_available"] == 800
    assert isinstance(answers.values["costs.examples_available"], int)


BAD = [
    # (answers, the key the message names, a phrase of the message)
    ({"use_case": {"goall": "format"}, "costs": {"model": "m"}}, "use_case.goall", "did you mean use_case.goal"),
    ({"use_case": {"goal": "format"}, "cost": {"model": "m"}}, "cost", "did you mean costs"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "gpu": 1}}, "costs.gpu", "unknown key"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m"},
      "alternatives": {"few_shot": {"tried": True, "score": 0.5}}}, "alternatives.few_shot.score", "unknown key"),
    ({"use_case": {"goal": "formats"}, "costs": {"model": "m"}}, "use_case.goal", "expected one of format"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m"}, "alternatives": {"target_quality": 1.5}},
     "alternatives.target_quality", "at most 1"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m"}, "alternatives": {"target_quality": -0.1}},
     "alternatives.target_quality", "at least 0"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "examples_available": "many"}},
     "costs.examples_available", "expected a number"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "examples_available": 12.5}},
     "costs.examples_available", "whole number"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "eval_set": "yes please"}},
     "costs.eval_set", "true or false"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "eval_set": 1}}, "costs.eval_set", "true or false"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "budget_usd": True}},
     "costs.budget_usd", "expected a number"),
    ({"use_case": {"goal": "format"}, "costs": {"model": 4.1}}, "costs.model", "expected a text"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "provider": "Open AI"}}, "costs.provider",
     "not a valid value"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m", "examples_available": 40,
                                                "examples_reviewed": 60}},
     "costs.examples_reviewed", "at most 40 (costs.examples_available)"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m"},
      "alternatives": {"few_shot": {"tried": False, "quality": 0.5}}},
     "alternatives.few_shot.quality", "applies only when alternatives.few_shot.tried"),
    ({"use_case": {"goal": "format"}, "costs": "gpt-4.1-mini"}, "costs", "expected a mapping"),
    ({"costs": {"model": "m"}}, "use_case.goal", "is required"),
    ({"use_case": {"goal": "format"}}, "costs.model", "is required"),
    ({"use_case": {"goal": "format"}, "costs": {"model": "m"},
      "benefits": {"requests_per_month": math.inf}}, "benefits.requests_per_month", "finite"),
]


@pytest.mark.parametrize("data,key,phrase", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_answers_name_the_key(tmp_path, data, key, phrase):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(data, allow_nan=True).replace("Infinity", "1e999"))
    with pytest.raises(DataError) as info:
        qn.read_answers(path)
    assert info.value.exit_code == 2
    assert key in info.value.message and phrase in (info.value.message + " " + (info.value.hint or ""))
    assert str(path) in info.value.message


def test_yaml_errors_carry_the_line(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_text("use_case:\n  goal: format\ncosts:\n  model: gpt-4.1-mini\n"
                    "alternatives:\n  few_shot:\n    tried: true\n    quality: 1.7\n")
    with pytest.raises(DataError) as info:
        qn.read_answers(path)
    assert info.value.line == 8
    assert f"{path}:8: alternatives.few_shot.quality: must be at most 1, got 1.7" == info.value.message


def test_unparseable_and_missing_files(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("use_case: {goal: [format\n")
    with pytest.raises(DataError, match="invalid YAML"):
        qn.read_answers(path)
    bad_json = tmp_path / "a.json"
    bad_json.write_text("{")
    with pytest.raises(DataError, match="invalid JSON"):
        qn.read_answers(bad_json)
    with pytest.raises(DataError, match="file not found"):
        qn.read_answers(tmp_path / "missing.yaml")
    top = tmp_path / "list.yaml"
    top.write_text("- goal\n")
    with pytest.raises(DataError, match="expected a mapping"):
        qn.read_answers(top)


def test_a_quality_implies_it_was_tried(tmp_path):
    answers = qn.read_answers(_write(tmp_path, {"use_case": {"goal": "format"}, "costs": {"model": "m"},
                                                "alternatives": {"rag": {"quality": 0.4}}}))
    assert answers.values["alternatives.rag.tried"] is True
    assert answers.sources["alternatives.rag.tried"] == "implied by alternatives.rag.quality"


def test_partial_files_and_assumed_defaults(tmp_path):
    answers = qn.read_answers(_write(tmp_path, {"costs": {"examples_available": 5}}), partial=True)
    assert answers.values == {"costs.examples_available": 5}
    assumed = qn.with_assumptions(answers)
    assert assumed.values["alternatives.few_shot.tried"] is False
    assert assumed.values["benefits.output_tokens"] == 100
    assert assumed.sources["benefits.output_tokens"] == "default (not answered)"
    assert "alternatives.target_quality" not in assumed.values  # offered when asking, never assumed


def test_null_values_are_unanswered(tmp_path):
    answers = qn.read_answers(_write(tmp_path, {"use_case": {"goal": "format", "description": None},
                                                "costs": {"model": "m"}, "benefits": None}))
    assert "use_case.description" not in answers.values


def test_save_and_read_back(tmp_path):
    answers = qn.validate(FULL, origin="interactive")
    path = qn.save_answers(answers, tmp_path / "sub" / "saved.yaml", note="a note")
    text = path.read_text()
    assert text.startswith("# ftdecide assess answers") and "# a note" in text
    again = qn.read_answers(path)
    assert again.values == answers.values
    assert qn.free_path(path) == tmp_path / "sub" / "saved-2.yaml"


def test_broken_question_files_are_refused():
    base = {"areas": {"use_case": "U", "alternatives": "A", "costs": "C", "benefits": "B"}}

    def q(**kw):
        return {"id": "use_case.x", "area": "use_case", "text": "T?", "help": "because", "type": "bool", **kw}

    for bad, phrase in [
        ({"questions": [q(colour="red")]}, "unknown field"),
        ({"questions": [q(type="date")]}, "type must be"),
        ({"questions": [q(area="costs")]}, "area must be"),
        ({"questions": [q(when="later.question")]}, "not asked before it"),
        ({"questions": [q(when="x(")]}, "when:"),
        ({"questions": [q(type="number", default=2, max=1)]}, "default"),
        ({"questions": [q(type="choice")]}, "choices go with type choice"),
        ({"questions": [q(), q()]}, "new dotted key"),
        ({"questions": [q(help="")]}, "help is required"),
        ({"questions": [q(assume=True)]}, "assume needs a default"),
    ]:
        with pytest.raises(DataError, match=phrase):
            qn.questions_from_data({**base, **bad})
    with pytest.raises(DataError, match="areas"):
        qn.questions_from_data({"areas": {"costs": "C"}, "questions": []})


class Script:
    """A prompt function answering from a list; a KeyboardInterrupt in the list is raised."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.asked = []

    def __call__(self, label, default):
        self.asked.append(label)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply if reply != "" else default


def test_ask_validates_like_the_file_and_skips_follow_ups():
    shown = []
    script = Script([
        "formats", "format",   # not a choice, then a choice
        "routes tickets",      # description
        "",                    # knowledge changes often: default no
        "maybe", "no",         # few-shot tried: not yes/no, then no -> its quality is not asked
        "yes", "1.4", "0.6",   # rag tried; quality out of range, then fine
        "",                    # target quality: default 0.9
        "",                    # provider: skipped
        "", "gpt-4.1-mini",    # model is required: asked again
        "1,000", "2000", "900",  # examples; reviewed above available, then fine
        "", "", "",            # eval set (default yes), team (default yes), budget (skip)
        "",                    # label cost per example (skip)
        "2000000", "1800", "150", "", "",
    ])
    answers = qn.ask(echo=shown.append, prompt=script)
    assert script.replies == []
    assert answers.values["use_case.goal"] == "format"
    assert answers.values["alternatives.few_shot.tried"] is False
    assert "alternatives.few_shot.quality" not in answers.values
    assert answers.values["alternatives.rag.quality"] == 0.6
    assert answers.values["alternatives.target_quality"] == 0.9
    assert answers.values["costs.examples_available"] == 1000
    assert answers.values["costs.examples_reviewed"] == 900
    assert answers.values["costs.eval_set"] is True
    assert answers.values["benefits.output_tokens"] == 100
    assert "costs.provider" not in answers.values and "costs.budget_usd" not in answers.values
    text = click.unstyle("\n".join(shown))
    assert "at most 1" in text and "answer yes or no" in text and "an answer is needed" in text
    assert "at most 1000 (costs.examples_available)" in text
    assert qn.load_questions()["use_case.goal"].help.split(".")[0] in " ".join(text.split())  # help shown
    assert "format answers must follow a fixed structure" in " ".join(text.split())
    qn.validate(answers.nested(), origin="interactive")  # what was asked is a valid file


def test_ask_keeps_preset_answers_and_stops_on_ctrl_c():
    preset = qn.validate({"use_case": {"goal": "cost"}}, origin="f.yaml", partial=True)
    script = Script(["tickets", "no", KeyboardInterrupt()])
    with pytest.raises(qn.Interrupted) as info:
        qn.ask(preset, echo=lambda _: None, prompt=script)
    stop = info.value
    assert stop.question.id == "alternatives.few_shot.tried" and not stop.eof
    assert stop.answers.values == {"use_case.goal": "cost", "use_case.description": "tickets",
                                   "use_case.knowledge_changes_often": False}
    assert stop.answers.sources["use_case.goal"] == "answers f.yaml"


def test_ask_end_of_input_is_reported_as_such():
    with pytest.raises(qn.Interrupted) as info:
        qn.ask(echo=lambda _: None, prompt=Script([EOFError()]))
    assert info.value.eof and info.value.question.id == "use_case.goal"


def _answers_strategy():
    """Any valid nested answers mapping (the keys each optional except goal and model)."""
    q01 = st.floats(0, 1, allow_nan=False)
    count = st.integers(0, 10_000_000)
    tokens = st.floats(0, 100_000, allow_nan=False)

    @st.composite
    def build(draw):
        data = {"use_case": {"goal": draw(st.sampled_from(GOALS))},
                "costs": {"model": draw(st.sampled_from(["gpt-4.1-mini", "openai/gpt-4o-mini-2024-07-18",
                                                         "gpt-5-mini", "azure/gpt-4.1-mini", "gpt-4.1-nano"]))}}
        opt = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
        data["use_case"]["knowledge_changes_often"] = opt(st.booleans())
        alt = data["alternatives"] = {}
        for key in ("few_shot", "rag"):
            tried = opt(st.booleans())
            alt[key] = {"tried": tried}
            if tried:
                alt[key]["quality"] = opt(q01)
        alt["target_quality"] = opt(q01)
        available = opt(count)
        data["costs"].update(examples_available=available,
                             examples_reviewed=opt(st.integers(0, available)) if available is not None else None,
                             eval_set=opt(st.booleans()), team_can_evaluate=opt(st.booleans()),
                             budget_usd=opt(st.floats(0, 1e6, allow_nan=False)))
        data["benefits"] = {"requests_per_month": opt(count), "prompt_tokens_now": opt(tokens),
                            "prompt_tokens_after": opt(tokens), "output_tokens": opt(tokens),
                            "reuse_in_new_domains": opt(st.booleans())}
        return data

    return build()


ANSWERS = _answers_strategy()


@settings(max_examples=60, deadline=None)
@given(ANSWERS)
def test_any_valid_answers_validate_and_round_trip(data):
    answers = qn.validate(data, origin="interactive")
    again = qn.validate(yaml.safe_load(qn.dump_answers(answers)), origin="interactive")
    assert again.values == answers.values
