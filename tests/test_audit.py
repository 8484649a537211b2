"""Tests of ``ftdecide audit``: leaks, conflicts, duplicates, labels, power, and the search.

Every file is written in tmp_path, so each test shows the lines it feeds in
and the ``file:line`` pairs it expects back. The metric rules the audit
restates (it may not import ``compare``) are checked against ``compare``'s
metrics themselves, and the pruned similarity search against brute-force
cosine on the same vectors.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftdecide.data as data
from ftdecide.data import _audit_search as search
from ftdecide.data._audit_labels import label_report, total_variation
from ftdecide.data._audit_text import normalize_prompt, prompt_key
from ftdecide.data._audit_vectors import rows_view, vectorize
from ftdecide.errors import DataError, UsageError

TICKETS = [
    "My invoice for March shows the Business plan price but we downgraded to Team in February, "
    "please refund the difference to the card on file.",
    "The mobile app crashes every time I open the reports tab on Android 14 after the latest "
    "update, reinstalling did not help at all.",
    "We need to add three new members to our workspace but the invite button is greyed out for "
    "every admin account we have.",
    "Someone signed in to my account from an unknown device in another country last night and "
    "changed the recovery email address.",
    "Could you add an export to CSV for the analytics dashboard? Our finance team copies the "
    "numbers by hand every single week.",
    "Webhook deliveries to our endpoint fail with status 500 since Tuesday although the endpoint "
    "answers fine when we call it ourselves.",
    "Password reset emails never arrive for anyone at our company domain, we checked the spam "
    "folders and the allow list twice.",
    "The API returns 429 too many requests even though we send fewer than ten calls per minute "
    "from a single server in our office.",
]
SYSTEM = "You triage support tickets. Answer with one word: the category."


def chat(user: str, answer: str, system: str | None = SYSTEM) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def write_jsonl(path: Path, records: list[dict[str, Any] | None]) -> Path:
    """One record per line; None writes a blank line (line numbers must count it)."""
    path.write_text("".join((json.dumps(r, ensure_ascii=False) if r is not None else "") + "\n"
                            for r in records), encoding="utf-8")
    return path


def train_file(tmp_path: Path, answers: list[str] | None = None) -> Path:
    answers = answers or ["billing", "technical", "account", "security", "feature_request",
                          "technical", "account", "technical"]
    return write_jsonl(tmp_path / "train.jsonl", [chat(t, a) for t, a in zip(TICKETS, answers)])


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# -- leaks ----------------------------------------------------------------------------------

def test_exact_leaks_after_normalisation_with_file_and_line(tmp_path):
    train = train_file(tmp_path)
    evals = write_jsonl(tmp_path / "eval.jsonl", [
        chat("Something entirely new about printing invoices twice in the desktop client.",
             "billing"),
        None,  # a blank line: the next record is on line 3
        chat(TICKETS[1].upper(), "technical"),                        # case
        chat(full_width(TICKETS[3]), "security"),                     # NFKC full width
        chat("  " + TICKETS[6].replace(" ", " \t\n  ") + "  ", "account"),  # whitespace
        chat(TICKETS[2], "account", system="A different system message."),  # not a leak
    ])
    report = data.audit(train, evals)
    got = [(e["eval"], e["train"]) for e in report.leaked]
    assert got == [("eval.jsonl:3", "train.jsonl:2"), ("eval.jsonl:4", "train.jsonl:4"),
                   ("eval.jsonl:5", "train.jsonl:7")]
    assert [(e["eval_line"], e["train_line"]) for e in report.leaked] == [(3, 2), (4, 4), (5, 7)]
    # exact leaks are not repeated as near leaks
    assert {e["eval_line"] for e in report.near_leaked}.isdisjoint({3, 4, 5})
    assert report.exclude_lines()[:3] == [3, 4, 5]


def test_near_leak_one_word_changed_found_unrelated_not(tmp_path):
    train = train_file(tmp_path)
    paraphrase = TICKETS[0].replace("refund", "return")
    evals = write_jsonl(tmp_path / "eval.jsonl", [
        chat(paraphrase, "billing"),
        chat("Our single sign-on with Okta stopped working this morning for all users in the "
             "Berlin office, nobody can log in.", "account"),
        chat(TICKETS[5].replace("Tuesday", "Monday"), "technical"),
    ])
    report = data.audit(train, evals)
    near = {e["eval_line"]: e for e in report.near_leaked}
    assert set(near) == {1, 3}
    assert near[1]["train"] == "train.jsonl:1" and near[3]["train"] == "train.jsonl:6"
    assert 0.9 <= near[1]["similarity"] < 1.0
    assert report.leaked == []
    assert report.exclude_lines() == [1, 3]
    assert report.power["n"] == 3 and report.power["n_after_exclusion"] == 1
    # a stricter threshold drops them: the similarity is what the threshold compares
    strict = data.audit(train, evals, near_threshold=0.99)
    assert strict.near_leaked == []


def test_audit_without_eval_reports_train_only(tmp_path):
    report = data.audit(train_file(tmp_path, ["billing", "technical"] * 4))
    d = report.to_dict()
    assert d["eval"] is None and d["leaked"] == [] and d["near_leaked"] == []
    assert d["min_detectable_diff"] is None and d["labels"]["categorical"] is True
    assert "eval" not in d["labels"]


# -- conflicts and duplicates -------------------------------------------------------------

def test_conflicts_within_train_and_between_train_and_eval(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat(TICKETS[0], "billing"),
        chat(TICKETS[1], "technical"),
        chat(TICKETS[0].lower(), "account"),      # same prompt, other answer
        chat(TICKETS[2], "account"),
        chat(TICKETS[1], "Technical."),           # same answer once normalised: no conflict
    ])
    evals = write_jsonl(tmp_path / "eval.jsonl", [
        chat(TICKETS[2], "security"),             # train says account
        chat(TICKETS[1], "technical"),            # agrees
    ])
    report = data.audit(train, evals)
    within = report.conflicts["train"]
    assert [c["lines"] for c in within] == [["train.jsonl:1", "train.jsonl:3"]]
    assert within[0]["answers"] == ["billing", "account"]
    between = report.conflicts["train_eval"]
    assert [(c["eval"], c["train"]) for c in between] == [("eval.jsonl:1", ["train.jsonl:4"])]
    assert between[0]["eval_answer"] == "security" and between[0]["train_answers"] == ["account"]


def test_json_answers_conflict_by_fields_not_by_spelling(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat(TICKETS[0], '{"category": "billing", "priority": "high"}'),
        chat(TICKETS[0], '{ "priority":"HIGH", "category":"billing" }'),   # same fields
        chat(TICKETS[1], '{"category": "technical", "priority": "low"}'),
        chat(TICKETS[1], '{"category": "technical", "priority": "high"}'),  # conflict
    ])
    report = data.audit(train)
    assert [c["train_lines"] for c in report.conflicts["train"]] == [[3, 4]]


def test_near_duplicates_exact_marked_and_counted(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat(TICKETS[0], "billing"),
        chat(TICKETS[1], "technical"),
        chat(TICKETS[0].upper(), "billing"),                          # exact duplicate of 1
        chat(TICKETS[1].replace("Android 14", "Android 13"), "technical"),  # near duplicate of 2
        chat(TICKETS[2], "account"),
        chat(TICKETS[0], "billing"),                                  # exact again
    ])
    report = data.audit(train)
    dups = report.near_duplicates
    pairs = {(p["a_line"], p["b_line"]): p for p in dups["pairs"]}
    assert pairs[(1, 3)]["exact"] and pairs[(1, 6)]["exact"]
    assert not pairs[(2, 4)]["exact"] and 0.9 <= pairs[(2, 4)]["similarity"] < 1
    assert dups["exact_pairs"] == 3          # {1, 3, 6}: three pairs
    assert dups["repeated_lines"] == 2
    assert dups["near_pairs"] == 1 and dups["total"] == 4
    assert (2, 5) not in pairs


def test_near_duplicates_list_is_capped_but_counted(tmp_path, monkeypatch):
    from ftdecide.data import _audit

    monkeypatch.setattr(_audit, "NEAR_DUPLICATES_SHOWN", 3)
    train = write_jsonl(tmp_path / "train.jsonl", [chat(TICKETS[0], "billing")] * 5)
    dups = data.audit(train).near_duplicates
    assert dups["total"] == 10 and len(dups["pairs"]) == 3
    assert [(p["a_line"], p["b_line"]) for p in dups["pairs"]] == [(1, 2), (1, 3), (1, 4)]


# -- labels and baselines -----------------------------------------------------------------

def test_label_counts_unseen_labels_and_distance_flag(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat(f"ticket {i} " + TICKETS[i % 8], label)
        for i, label in enumerate(["billing"] * 6 + ["technical"] * 3 + ["account"] * 3)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [
        chat(f"new ticket {i} about something else entirely", label)
        for i, label in enumerate(["technical"] * 3 + ["Billing."] + ["security"] * 2)])
    labels = data.audit(train, evals).labels
    assert labels["categorical"] and labels["kind"] == "label"
    assert labels["metric"] == "exact" and labels["metric_chosen"] == "auto"
    assert labels["train"] == {"billing": 6, "technical": 3, "account": 3}
    assert labels["eval"] == {"technical": 3, "billing": 1, "security": 2}
    assert labels["unseen_in_train"] == ["security"]
    # TV = ½(|6/12−1/6| + |3/12−3/6| + |3/12−0| + |0−2/6|) = ½(1/3 + 1/4 + 1/4 + 1/3) = 7/12
    assert labels["distance"] == pytest.approx(7 / 12, abs=1e-4)
    assert labels["shifted"] is True
    # majority: always "billing" → right on 1 of 6; chance: 1/3 on the 4 seen labels → 4/18
    assert labels["majority_label"] == "billing"
    assert labels["majority_rate"] == pytest.approx(1 / 6)
    assert labels["chance_rate"] == pytest.approx(4 / 18)


def test_same_distribution_is_not_flagged():
    train = ["a"] * 10 + ["b"] * 10
    labels = label_report(train, ["a", "b", "a", "b"])
    assert labels["distance"] == 0 and labels["shifted"] is False
    assert labels["majority_rate"] == 0.5 and labels["chance_rate"] == 0.5


def test_json_fields_majority_and_chance_by_hand():
    train = [json.dumps(o) for o in (
        [{"category": "billing", "priority": "high"}] * 3
        + [{"category": "technical", "priority": "low"}] * 2
        + [{"category": "account", "priority": "high"}])]
    evals = [json.dumps({"category": "billing", "priority": "low"}),
             json.dumps({"category": "technical", "priority": "high"}),
             json.dumps({"category": "security", "priority": "urgent"})]
    labels = label_report(train, evals)
    assert labels["metric"] == "json-fields" and labels["kind"] == "json"
    assert labels["majority_answer"] == {"category": "billing", "priority": "high"}
    assert labels["fields"]["category"]["train"] == {"billing": 3, "technical": 2, "account": 1}
    assert labels["fields"]["category"]["unseen_in_train"] == ["security"]
    assert labels["fields"]["priority"]["unseen_in_train"] == ["urgent"]
    # majority {billing, high}: item 1 shares 1 of 2 pairs → F1 ½, item 2 → ½, item 3 → 0
    assert labels["majority_rate"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    # chance: category uniform over 3 values, priority over 2; F1 = (p_cat + p_pri) / 2
    # item 1: (1/3 + 1/2)/2, item 2: (1/3 + 1/2)/2, item 3: unseen values → 0
    assert labels["chance_rate"] == pytest.approx((5 / 12 + 5 / 12 + 0) / 3)


def test_rates_agree_with_compares_metrics():
    """The audit restates the metrics' normalisation; scoring with compare's own metrics
    must give the same majority rate."""
    from ftdecide.compare._metrics import get_metric

    train = ["Billing", "billing.", '"billing"', "Technical", "technical", "account", "account"]
    evals = ["BILLING", "technical ", "account.", "security", "  billing\n"]
    for metric in ("exact", "accuracy"):
        labels = label_report(train, evals, metric)
        scorer = get_metric(metric)
        expected = sum(scorer.score(gold, "billing").value for gold in evals) / len(evals)
        assert labels["majority_rate"] == pytest.approx(expected), metric

    train_json = [json.dumps({"a": "x", "b": {"c": 1}}), json.dumps({"a": "x", "b": {"c": 2}}),
                  json.dumps({"a": "y", "b": {"c": 1}}), json.dumps({"a": "X", "b": {"c": 1.0}})]
    evals_json = [json.dumps({"a": "x", "b": {"c": 2}}), json.dumps({"b": {"c": 1}}),
                  '```json\n{"a": "Y", "b": {"c": 1}, "d": true}\n```']
    labels = label_report(train_json, evals_json)
    guess = json.dumps({"a": "x", "b": {"c": 1}})
    scorer = get_metric("json-fields")
    expected = sum(scorer.score(gold, guess).value for gold in evals_json) / len(evals_json)
    assert labels["majority_rate"] == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["yes", "No", "maybe", "YES.", " no "]), min_size=4, max_size=20),
       st.lists(st.sampled_from(["yes", "no", "Maybe", "never"]), min_size=1, max_size=10))
def test_plain_rates_match_exact_metric(train, evals):
    from ftdecide.compare._metrics import get_metric

    labels = label_report(train, evals, "exact")
    if not labels["categorical"]:
        return
    scorer = get_metric("exact")
    guess = labels["majority_label"]
    assert labels["majority_rate"] == pytest.approx(
        sum(scorer.score(g, guess).value for g in evals) / len(evals))
    train_labels = list(labels["train"])
    chance = sum(scorer.score(g, t).value for g in evals for t in train_labels)
    assert labels["chance_rate"] == pytest.approx(chance / len(train_labels) / len(evals))


def test_free_text_answers_are_not_categorical(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat(t, f"Thanks for writing. Here is a detailed answer number {i}.")
        for i, t in enumerate(TICKETS)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [chat("new question", "a long reply")])
    report = data.audit(train, evals)
    assert report.labels["categorical"] is False
    assert report.labels["majority_rate"] is None and report.labels["chance_rate"] is None
    assert report.power["baseline_rate"] == 0.5


def test_total_variation_bounds():
    assert total_variation(Counter("aab"), Counter("aab")) == 0
    assert total_variation(Counter("aa"), Counter("bb")) == 1


# -- power ----------------------------------------------------------------------------------

def _hand_mdd(n: int, p0: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The Fleiss equation solved with scipy's root finder, written out independently."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)

    def f(d: float) -> float:
        p1 = p0 + d
        pbar = (p0 + p1) / 2
        return (math.sqrt(n) * d - za * math.sqrt(2 * pbar * (1 - pbar))
                - zb * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)))

    return brentq(f, 1e-9, 1 - p0)


@pytest.mark.parametrize("n,p0", [(32, 0.14), (100, 0.5), (400, 0.3), (1000, 0.8), (60, 0.05)])
def test_min_detectable_diff_equals_hand_computation(n, p0):
    assert data.min_detectable_diff(n, p0) == pytest.approx(_hand_mdd(n, p0), abs=1e-6)


def test_min_detectable_diff_known_value_and_monotone():
    assert round(data.min_detectable_diff(32, 0.14) * 100) == 31  # the brief's example
    values = [data.min_detectable_diff(n, 0.3) for n in (20, 50, 100, 200, 1000, 10000)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert data.min_detectable_diff(0, 0.3) is None
    assert data.min_detectable_diff(5, 0.95) is None   # no gain up to 100 % is detectable
    assert data.min_detectable_diff(100, 0.5, alpha=0.01) > data.min_detectable_diff(100, 0.5)


def test_power_uses_majority_rate_by_default_and_given_rate(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl",
                        [chat(t, a) for t, a in zip(TICKETS, ["x", "x", "x", "y"] * 2)])
    evals = write_jsonl(tmp_path / "eval.jsonl",
                        [chat(f"eval ticket {i}", a) for i, a in enumerate("xxyy")])
    report = data.audit(train, evals)
    assert report.power["baseline_rate"] == 0.5 and report.power["n"] == 4
    assert report.min_detectable_diff is None  # 4 items detect nothing
    given_rate = data.audit(train, evals, baseline_rate=0.1, alpha=0.1, power=0.5)
    assert given_rate.power["baseline_rate"] == 0.1
    assert given_rate.min_detectable_diff == pytest.approx(
        _hand_mdd(4, 0.1, alpha=0.1, power=0.5), abs=1e-6)


# -- formats and errors ---------------------------------------------------------------------

def test_csv_and_prompt_completion_inputs(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("prompt,completion\n"
                     f'"{TICKETS[0]}",billing\n'
                     f'"{TICKETS[1]}",technical\n'
                     f'"{TICKETS[0]}",account\n', encoding="utf-8")
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"prompt": TICKETS[1].upper(), "completion": "technical"}) + "\n"
                     + json.dumps({"prompt": "a brand new question", "completion": "billing"})
                     + "\n", encoding="utf-8")
    report = data.audit(train, evals)
    assert [(e["eval"], e["train"]) for e in report.leaked] == [("eval.jsonl:1", "train.csv:3")]
    assert [c["lines"] for c in report.conflicts["train"]] == [["train.csv:2", "train.csv:4"]]


def test_bad_input_raises_data_error_naming_the_line(tmp_path):
    bad = tmp_path / "eval.jsonl"
    bad.write_text(json.dumps(chat("q", "a")) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        data.audit(train_file(tmp_path), bad)
    assert "eval.jsonl:2" in str(info.value)


def test_bad_settings_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        data.audit(train_file(tmp_path), near_threshold=0)
    with pytest.raises(UsageError):
        data.audit(train_file(tmp_path), baseline_rate=1.5)


def test_empty_and_tiny_prompts(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [
        chat("x", "a", system=None), chat("hi", "b", system=None), chat("hi", "b", system=None)])
    report = data.audit(train, train)
    assert len(report.leaked) == 3
    assert report.near_duplicates["exact_pairs"] == 1


# -- the CLI ------------------------------------------------------------------------------------

def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_human_output(tmp_path, capsys):
    train = train_file(tmp_path, ["billing", "technical"] * 4)
    evals = write_jsonl(tmp_path / "eval.jsonl", [
        chat(t.upper(), a) for t, a in zip(TICKETS, ["billing", "technical"] * 3 + ["billing"] * 2)]
        + [chat("something new", "billing")])
    code, out, err = run_cli(["audit", str(train), "--eval", str(evals)], capsys)
    assert code == 0, err
    assert "Leaks: 8 eval items with a training prompt" in out and "eval.jsonl:1 = train.jsonl:1" in out
    assert "… and 3 more" in out
    assert "eval.jsonl:8 (billing) vs train.jsonl:8 (technical)" in out
    assert "billing" in out and "answering blindly: majority 66.7 %, chance 50.0 %" in out
    assert "Power: with 9 eval items" in out
    assert "Traceback" not in out + err


def test_cli_json_has_the_stable_keys(tmp_path, capsys):
    train = train_file(tmp_path)
    evals = write_jsonl(tmp_path / "eval.jsonl", [chat(TICKETS[0], "billing")])
    code, out, _ = run_cli(["audit", str(train), "--eval", str(evals), "--json",
                            "--threshold", "0.8", "--metric", "exact"], capsys)
    assert code == 0
    d = json.loads(out)
    for key in ("leaked", "near_leaked", "conflicts", "near_duplicates", "labels",
                "min_detectable_diff", "excluded", "counts", "settings", "power"):
        assert key in d, key
    assert d["excluded"] == [] and d["settings"]["near_threshold"] == 0.8
    assert d["labels"]["metric"] == "exact" and d["labels"]["metric_chosen"] == "given"
    assert d["leaked"][0] == {"eval": "eval.jsonl:1", "train": "train.jsonl:1", "eval_line": 1,
                              "train_line": 1, "train_matches": 1}


@pytest.mark.parametrize("setup,expected", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text('{"messages": [\n', encoding="utf-8"), "eval.jsonl:1"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_cli_bad_input_exits_2_without_traceback(tmp_path, capsys, setup, expected):
    evals = tmp_path / "eval.jsonl"
    setup(evals)
    code, out, err = run_cli(["audit", str(train_file(tmp_path)), "--eval", str(evals)], capsys)
    assert code == 2
    assert expected in err and "Traceback" not in out + err


def test_cli_help_has_an_example_and_imports_nothing_heavy():
    code = ("import sys\nfrom ftdecide.cli.main import main\n"
            "try:\n    main(['audit', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "FTDECIDE_LOAD_PLUGINS": ""})
    assert "Example:" in out.stdout and "ftdecide audit train.jsonl" in out.stdout
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


# -- properties ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalisation_is_idempotent(text):
    once = normalize_prompt(text)
    assert normalize_prompt(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text(max_size=40)),
                min_size=1, max_size=4))
def test_a_prompt_always_leaks_against_its_disguises(messages):
    prompt = [{"role": r, "content": c} for r, c in messages]
    disguised = [{"role": r, "content": "  " + c.upper().replace(" ", "\u3000 ") + "\n"}
                 for r, c in messages]
    assert prompt_key(prompt) == prompt_key(prompt)
    if all(c.upper().casefold() == c.casefold() for _, c in messages):
        assert prompt_key(disguised) == prompt_key(prompt)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="abcdefgh ", min_size=1, max_size=60), min_size=1, max_size=6))
def test_every_eval_prompt_found_in_train_leaks(tmp_path, prompts):
    path = write_jsonl(tmp_path / "same.jsonl", [chat(p, "x", system=None) for p in prompts])
    report = data.audit(path, path)
    assert len(report.leaked) == len(prompts)
    assert all(e["eval_line"] >= e["train_line"] for e in report.leaked)


# -- the search against brute force -------------------------------------------------------------

WORDS = ("invoice refund charged twice login password reset app crash slow export report api "
         "webhook timeout team invite admin plan upgrade downgrade card account email sso okta "
         "dashboard mobile android ios error please help urgent since yesterday order number").split()


def _corpus(n: int, rng: random.Random) -> list[str]:
    texts = []
    for _ in range(n):
        if texts and rng.random() < 0.15:  # a near copy of an earlier text
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choices(WORDS, k=rng.randint(12, 40)))
                         + f" #{rng.randint(1000, 99999)}")
    return texts


@pytest.mark.parametrize("threshold", [0.9, 0.6])
def test_chunked_search_finds_exactly_the_brute_force_pairs(monkeypatch, threshold):
    import numpy as np
    from sklearn.metrics.pairwise import cosine_similarity

    monkeypatch.setattr(search, "WORK_PER_CHUNK", 20_000)  # many small chunks
    rng = random.Random(7)
    train = _corpus(2000, rng)
    evals = [t if rng.random() < 0.5 else t + " " + rng.choice(WORDS)
             for t in rng.sample(train, 100)] + _corpus(100, rng)
    vectors = vectorize(train + evals)
    y = rows_view(vectors.matrix, 0, len(train))
    x = rows_view(vectors.matrix, len(train), len(train) + len(evals))
    index = search.Index.build(y, threshold)

    dense = cosine_similarity(x, y)
    q, t, sims = search.best_matches(x, index)
    brute_q = np.flatnonzero(dense.max(axis=1) >= threshold)
    assert q.tolist() == brute_q.tolist()
    assert np.allclose(sims, dense[q, t], atol=1e-5)
    assert np.allclose(sims, dense.max(axis=1)[q], atol=1e-5)

    a, b, s = search.self_pairs(index)
    found = set(zip(a.tolist(), b.tolist()))
    brute = cosine_similarity(y)
    i, j = np.nonzero(np.triu(brute >= threshold, k=1))
    assert found == set(zip(i.tolist(), j.tolist()))
    assert len(found) > 50
    assert np.allclose(s, brute[a, b], atol=1e-5)


def test_vectors_are_unit_tfidf_rows():
    import numpy as np

    vectors = vectorize(["abcdef", "abcxyz", "", "ab"])
    norms = np.sqrt(np.asarray(vectors.matrix.multiply(vectors.matrix).sum(axis=1)).ravel())
    assert np.allclose(norms, [1, 1, 0, 1], atol=1e-6)  # "" has no 4-gram: a zero row
    # columns run from the most common n-gram to the rarest
    assert list(vectors.df) == sorted(vectors.df, reverse=True)
    assert vectors.df[0] == 2  # " abc" is in both long texts
