"""Quality metrics: the built-ins on known cases and properties, plugin metrics through the real registry."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide import hookimpl
from ftdecide.compare._metrics import (
    BUILTIN_NAMES,
    Score,
    available_metrics,
    extract_json_object,
    get_metric,
    label_of,
    normalize_text,
)
from ftdecide.errors import DataError, PluginError, UsageError
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import FakePlugin


@pytest.fixture
def reg():
    return Registry(load_entry_points=False)


def score(name, expected, answer, registry=None):
    return get_metric(name, registry or Registry(load_entry_points=False)).score(expected, answer)


# -- normalisation and exact -----------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("Paris", "paris"),
    ("  PARIS  ", "paris"),
    ("Paris.", "paris"),
    ('"Paris"', "paris"),
    ('"Paris".', "paris"),
    ('"Paris."', "paris"),
    ("\u201cParis\u201d", "paris"),
    ("'Paris'", "paris"),
    ("`Paris`", "paris"),
    ("New   York\n City", "new york city"),
    ("\uff30\uff41\uff52\uff49\uff53", "paris"),  # full-width letters: NFKC
    ("Stra\u00dfe", "strasse"),  # casefold, not lower
    ("e.g.", "e.g"),  # one trailing period only
    ('"unbalanced', '"unbalanced'),
    ("", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("expected,answer,value", [
    ("Paris", "paris.", 1.0),
    ("Paris", '"Paris"', 1.0),
    ("New York", "new york", 1.0),
    ("Paris", "Paris, France", 0.0),
    ("42", "42.0", 0.0),  # exact is about text; numbers are not reinterpreted
])
def test_exact(expected, answer, value):
    assert score("exact", expected, answer) == Score(value)


# -- accuracy -------------------------------------------------------------------------------

@pytest.mark.parametrize("answer,value", [
    ("billing", 1.0),
    ("Billing.", 1.0),
    ("  billing  \n\nThe customer was charged twice.", 1.0),  # explanation below: ignored
    ("Label: billing", 1.0),
    ("Category: Billing", 1.0),
    ("**Label:** billing", 1.0),
    ("**billing**", 1.0),
    ("- billing", 1.0),
    ("```\nbilling\n```", 1.0),
    ("```text\nBilling\n```\n", 1.0),
    ("\n\n`billing`", 1.0),
    ("I think billing", 0.0),  # text before the label on its line counts as wrong
    ("account", 0.0),
    ("billing account", 0.0),
    ("", 0.0),
])
def test_accuracy_reads_the_first_line(answer, value):
    assert score("accuracy", "billing", answer) == Score(value)


def test_accuracy_keeps_a_colon_that_belongs_to_the_label():
    # The expected label has a colon itself: nothing is stripped from the answer.
    assert score("accuracy", "type: A", "Type: a").value == 1.0
    assert score("accuracy", "type: A", "A").value == 0.0
    assert label_of("Label: data_privacy") == "data_privacy"


# -- token F1 --------------------------------------------------------------------------------

@pytest.mark.parametrize("expected,answer,value", [
    ("The cat sat", "a cat sat down", 0.8),  # articles dropped: p = 2/3, r = 1
    ("Denver Broncos", "the Denver Broncos!", 1.0),
    ("Denver Broncos", "Carolina Panthers", 0.0),
    ("one two three four", "one two", 2 * 1.0 * 0.5 / 1.5),
    ("a b", "the", 0.0),  # only articles / one-letter words left on one side
    ("", "", 1.0),
    ("the", "a", 1.0),  # both empty after normalisation
    ("red red blue", "red blue blue", 2 / 3),  # multiset overlap: red, blue
])
def test_token_f1_known_cases(expected, answer, value):
    assert score("f1", expected, answer).value == pytest.approx(value)


# -- json-fields ------------------------------------------------------------------------------

GOLD = '{"category": "billing", "priority": "high"}'


@pytest.mark.parametrize("answer,value,parsed", [
    (GOLD, 1.0, True),
    ('{"priority": "high", "category": "billing"}', 1.0, True),  # key order is irrelevant
    ('{"category": "Billing", "priority": "HIGH."}', 1.0, True),  # values normalised like exact
    ('{"category": "billing", "priority": "low"}', 0.5, True),  # one field of two
    ('{"category": "billing"}', 2 / 3, True),  # p = 1, r = 1/2
    ('{"category": "billing", "priority": "high", "reason": "x"}', 0.8, True),  # p = 2/3, r = 1
    ('{"category": "account", "priority": "low"}', 0.0, True),
    ('{}', 0.0, True),
    ('```json\n{"category": "billing", "priority": "high"}\n```', 1.0, True),
    ('Sure! Here it is: {"category": "billing", "priority": "low"} Hope this helps.', 0.5, True),
    ('category: billing, priority: high', 0.0, False),
    ('{"category": "billing", "priority": ', 0.0, False),
    ('["billing", "high"]', 0.0, False),  # JSON, but not an object
    ("", 0.0, False),
    ('{"category": NaN}', 0.0, False),  # not strict JSON
])
def test_json_fields(answer, value, parsed):
    got = score("json-fields", GOLD, answer)
    assert got.value == pytest.approx(value)
    assert got.parsed is parsed


def test_json_fields_flattens_nested_objects_to_dotted_keys():
    gold = '{"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2]}'
    assert score("json-fields", gold, '{"a": {"c": {"d": "X"}, "b": 1.0}, "e": [1, 2]}').value == 1.0
    # a.b wrong, a.c.d right, e right (lists compare whole and in order)
    assert score("json-fields", gold, '{"a": {"b": 2, "c": {"d": "x"}}, "e": [1, 2]}').value \
        == pytest.approx(2 / 3)
    assert score("json-fields", gold, '{"a": {"b": 1, "c": {"d": "x"}}, "e": [2, 1]}').value \
        == pytest.approx(2 / 3)
    # a flat key spelled with a dot is the same field as the nested one
    assert score("json-fields", '{"a": {"b": 1}}', '{"a.b": 1}').value == 1.0
    # true is not 1, null is not "null"
    assert score("json-fields", '{"x": true, "y": null}', '{"x": 1, "y": "null"}').value == 0.0


def test_json_fields_counts_unparseable_answers():
    answers = [GOLD, "I cannot classify this ticket.", '{"category": "billing", "priority": "low"}',
               "```json\n{oops}\n```", '{"category": "billing", "priority": "high"}']
    metric = get_metric("json-fields", Registry(load_entry_points=False))
    scores = [metric.score(GOLD, a) for a in answers]
    assert [s.value for s in scores] == [1.0, 0.0, 0.5, 0.0, 1.0]
    assert sum(not s.parsed for s in scores) == 2


def test_json_fields_needs_a_json_expected_answer():
    with pytest.raises(DataError, match="json-fields.*'billing'.*not a JSON object") as info:
        score("json-fields", "billing", '{"category": "billing"}')
    assert "--metric" in info.value.hint


@pytest.mark.parametrize("text,obj", [
    ('{"a": 1}', {"a": 1}),
    ('  \n{"a": 1}\n', {"a": 1}),
    ('x {"a": "}{"} y', {"a": "}{"}),  # braces inside strings do not count
    ('x {"a": "say \\"}\\""} y', {"a": 'say "}"'}),  # escaped quotes inside strings
    ('{broken {"a": 1}', {"a": 1}),  # an unclosed brace before a good object
    ('{"a": 1} and {"b": 2}', {"a": 1}),  # the first object wins
    ('{not json} then {"b": 2}', {"b": 2}),
    ('```\n{"a": 1}\n```', {"a": 1}),
    ('[{"a": 1}]', {"a": 1}),  # a list is no object, but the object inside it is found
    ("no braces here", None),
    ('"just a string"', None),
])
def test_extract_json_object(text, obj):
    assert extract_json_object(text) == obj


def test_extract_json_object_bounds_the_work_on_hostile_answers():
    assert extract_json_object("{" * 20_000) is None
    assert extract_json_object("[" * 100_000) is None  # deep nesting: no RecursionError


# -- properties ---------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_objects = st.recursive(
    st.dictionaries(st.text(st.characters(blacklist_characters="."), min_size=1, max_size=6),
                    json_scalars, max_size=5),
    lambda children: st.dictionaries(
        st.text(st.characters(blacklist_characters="."), min_size=1, max_size=6),
        st.one_of(json_scalars, children, st.lists(json_scalars, max_size=3)), max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BUILTIN_NAMES), st.text(max_size=80), st.text(max_size=80))
def test_every_builtin_scores_in_unit_interval(name, expected, answer):
    if name == "json-fields":
        expected = json.dumps({"k": expected})
    got = score(name, expected, answer)
    assert 0.0 <= got.value <= 1.0
    if get_metric(name, Registry(load_entry_points=False)).binary:
        assert got.value in (0.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["exact", "accuracy", "f1"]), st.text(max_size=80))
def test_an_answer_equal_to_the_expected_one_scores_1(name, text):
    assert score(name, text, text).value == 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_f1_and_exact_are_symmetric(a, b):
    assert score("f1", a, b).value == pytest.approx(score("f1", b, a).value)
    assert score("exact", a, b) == score("exact", b, a)


@settings(max_examples=150, deadline=None)
@given(json_objects, st.sampled_from(["{}", "```json\n{}\n```", "Answer: {} -- done"]))
def test_json_fields_recognises_an_object_however_it_is_wrapped(obj, wrapper):
    text = json.dumps(obj)
    got = score("json-fields", text, wrapper.replace("{}", text, 1))
    assert got == Score(1.0, parsed=True)


@settings(max_examples=150, deadline=None)
@given(json_objects, json_objects)
def test_json_fields_is_a_symmetric_f1_in_unit_interval(a, b):
    ab = score("json-fields", json.dumps(a), json.dumps(b))
    ba = score("json-fields", json.dumps(b), json.dumps(a))
    assert 0.0 <= ab.value <= 1.0 and ab.parsed
    assert ab.value == pytest.approx(ba.value)


# -- plugin metrics -----------------------------------------------------------------------------

class MetricsPlugin:
    """A plugin object like :class:`ftdecide.testing.FakePlugin`, registering metrics too."""

    def __init__(self, metrics, name="metrics-plugin"):
        self.metrics = metrics
        self.__name__ = name

    @hookimpl
    def register_metrics(self, register):
        for name, function in self.metrics.items():
            register(name, function)


def length_match(expected, answer):
    """1 when the answer is as long as the expected one."""
    return float(len(expected) == len(answer))


def test_plugin_metric_through_the_registry(reg):
    reg.add_plugin(FakePlugin(), name="fake")  # a provider plugin alongside: no metrics from it
    reg.add_plugin(MetricsPlugin({"length-match": length_match,
                                  "half": lambda e, a: 0.5}), name="acme")
    metric = get_metric("length-match", reg)
    assert metric.name == "length-match"
    assert metric.source == "plugin acme"
    assert metric.binary is None  # unknown: the statistics decide from the scores
    assert metric.description == "1 when the answer is as long as the expected one."
    assert metric.score("abc", "xyz") == Score(1.0)
    assert metric.score("abc", "xy") == Score(0.0)
    assert get_metric("half", reg).description == "registered by plugin 'acme'"
    names = [m.name for m in available_metrics(reg)]
    assert names == [*BUILTIN_NAMES, "half", "length-match"]


def test_plugin_metric_from_the_process_registry(reg):
    reg.add_plugin(MetricsPlugin({"length-match": length_match}), name="acme")
    previous = set_registry(reg)
    try:
        assert get_metric("length-match").score("ab", "cd").value == 1.0
        assert "length-match" in [m.name for m in available_metrics()]
    finally:
        set_registry(previous)


@pytest.mark.parametrize("function,match", [
    (lambda e, a: 1 / 0, r"metric 'bad' of plugin 'acme' raised ZeroDivisionError"),
    (lambda e, a: 1.5, r"metric 'bad' of plugin 'acme' returned 1.5.*\[0, 1\]"),
    (lambda e, a: -0.1, r"plugin 'acme' returned -0.1"),
    (lambda e, a: math.nan, r"plugin 'acme' returned nan"),
    (lambda e, a: "1", r"plugin 'acme' returned '1'"),
    (lambda e, a: None, r"plugin 'acme' returned None"),
])
def test_a_broken_plugin_metric_is_a_plugin_error_naming_the_plugin(reg, function, match):
    reg.add_plugin(MetricsPlugin({"bad": function}), name="acme")
    metric = get_metric("bad", reg)
    with pytest.raises(PluginError, match=match) as info:
        metric.score("a", "b")
    assert "acme" in info.value.hint
    assert info.value.exit_code == 2


def test_plugin_metric_returning_bool_or_int_is_accepted(reg):
    reg.add_plugin(MetricsPlugin({"is-same": lambda e, a: e == a, "one": lambda e, a: 1}),
                   name="acme")
    assert get_metric("is-same", reg).score("x", "x") == Score(1.0)
    assert get_metric("one", reg).score("x", "y") == Score(1.0)


def test_a_plugin_cannot_shadow_a_builtin(reg):
    reg.add_plugin(MetricsPlugin({"exact": lambda e, a: 1.0}), name="sneaky")
    with pytest.raises(PluginError, match="plugin 'sneaky' registered metric 'exact'.*built-in"):
        get_metric("exact", reg)


def test_unknown_metric_lists_every_name(reg):
    reg.add_plugin(MetricsPlugin({"length-match": length_match}), name="acme")
    with pytest.raises(UsageError) as info:
        get_metric("meteor", reg)
    assert str(info.value) == ("unknown metric 'meteor' (available: exact, accuracy, f1, "
                               "json-fields, rouge-l, chrf, bleu, similarity, length-match)")
    assert info.value.exit_code == 2


def test_metric_names_accept_underscores_and_case(reg):
    assert get_metric("json_fields", reg).name == "json-fields"
    assert get_metric(" F1 ", reg).name == "f1"


def test_pip_installed_plugin_metric_loads_through_entry_points(tmp_path):
    """A third-party distribution with ``register_metrics``, installed by pip, scored in a
    fresh interpreter that only finds it through its entry point."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "ftdecide-lenmetric"
        version = "0.2.0"
        [project.entry-points.ftdecide]
        lenmetric = "ftdecide_lenmetric"
        [tool.setuptools]
        py-modules = ["ftdecide_lenmetric"]
    """))
    (project / "ftdecide_lenmetric.py").write_text(textwrap.dedent('''
        import ftdecide

        @ftdecide.hookimpl
        def register_metrics(register):
            def length_ratio(expected, answer):
                """Shorter over longer length."""
                longest = max(len(expected), len(answer)) or 1
                return min(len(expected), len(answer)) / longest
            register("length-ratio", length_ratio)
    '''))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(project)],
                   check=True, capture_output=True, text=True)
    code = textwrap.dedent("""
        import json
        from ftdecide.compare._metrics import get_metric
        m = get_metric("length-ratio")
        print(json.dumps({"source": m.source, "description": m.description,
                          "score": m.score("abcd", "ab").value}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "FTDECIDE_LOAD_PLUGINS"}
    env["PYTHONPATH"] = str(site)
    env["FTDECIDE_LOAD_PLUGINS"] = "lenmetric"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"source": "plugin lenmetric",
                                      "description": "Shorter over longer length.",
                                      "score": 0.5}
