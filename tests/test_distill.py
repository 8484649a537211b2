"""The distillation arms end to end: a scripted teacher over real HTTP, real tunes, a real store.

The local server answers from known rules, so every figure is asserted
exactly: the teacher (``openai/gpt-4.1``) is right on exactly 80 % of each
set's items (:class:`ftdecide.testing.ScriptedTeacher`); a fine-tuned model
answers as the data that trained it says: the gold-label model always right,
the student as its teacher would (the server reads the job's training file).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer, ScriptedTeacher, last_user_text

BASE = "gpt-4o-mini-2024-07-18"
TEACHER = "gpt-4.1-2025-04-14"
TEACHER_IN, TEACHER_OUT = 2.00, 8.00  # gpt-4.1 per 1M tokens (the catalog, reference/providers.md)
CATS = ("billing", "account", "technical", "shipping")
WORDS = ("refund", "password", "crash", "parcel", "invoice", "login", "error", "delivery",
         "charge", "profile", "timeout", "tracking")
N_TRAIN, N_EVAL = 20, 10


def _prompt(i: int) -> str:
    # distinct enough that the audit finds no eval item in the training set
    return f"case {i * 7919 % 10007}: my {WORDS[i % len(WORDS)]} {WORDS[(i * 5) % len(WORDS)]} " \
           f"problem number {i} ({CATS[i % 4]} team please)"


def _example(i: int, *, answer: bool = True) -> dict:
    msgs = [{"role": "system", "content": "Route the ticket to one team."},
            {"role": "user", "content": _prompt(i)}]
    if answer:
        msgs.append({"role": "assistant", "content": CATS[i % 4]})
    return {"messages": msgs}


TRAIN_IDS = range(N_TRAIN)
EVAL_IDS = range(500, 500 + N_EVAL)


def _gold(ids) -> dict[str, str]:
    return {_prompt(i): CATS[i % 4] for i in ids}


class Rules:
    """The server's answers: teacher, base model (few-shot right), fine-tuned models by data."""

    def __init__(self, teacher: ScriptedTeacher, gold_train: str) -> None:
        self.teacher = teacher
        self.gold_train = gold_train
        self.server: OpenAICompatibleServer | None = None

    def trained_on(self, model: str) -> str:
        assert self.server is not None
        for job in self.server.jobs.values():
            if job.get("fine_tuned_model") == model:
                return self.server.files[job["training_file"]]["content"].decode()
        raise AssertionError(f"no job made {model}")

    def __call__(self, request: dict) -> str:
        key = last_user_text(request["messages"])
        model = request["model"]
        if model == TEACHER:
            return self.teacher(request)
        gold = {**_gold(TRAIN_IDS), **_gold(EVAL_IDS)}[key]
        if model.startswith("ft:"):
            content = self.trained_on(model)
            if content == self.gold_train:
                return gold
            # the student answers as the teacher whose answers trained it
            return gold if self.teacher.is_right(key) else self.teacher.wrong(key, gold)
        users = [m for m in request["messages"] if m["role"] == "user"]
        return gold if len(users) > 1 else "unsure"


@pytest.fixture
def task(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(_example(i)) + "\n" for i in TRAIN_IDS))
    ev = tmp_path / "eval.jsonl"
    ev.write_text("".join(json.dumps(_example(i)) + "\n" for i in EVAL_IDS))
    return tmp_path


def _teacher(**script) -> ScriptedTeacher:
    return ScriptedTeacher([_gold(TRAIN_IDS), _gold(EVAL_IDS)], 0.8,
                           script=script.get("script"))


@pytest.fixture
def served(task, monkeypatch):
    """(rules, server) with the openai plugin pointed at the server."""
    rules = Rules(_teacher(), (task / "train.jsonl").read_text())
    with OpenAICompatibleServer(responder=rules) as server:
        rules.server = server
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-distill")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
        set_registry(Registry())
        yield rules, server


def compare(task, *extra, expect=0):
    args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{BASE}", "--teacher", f"openai/{TEACHER}", "--tune", "--yes",
            "--metric", "exact", "--out", str(task / "reports"), "--shots", "2", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def teacher_posts(server, keys=None):
    posts = [p for p in server.calls("POST", "/v1/chat/completions") if p.json["model"] == TEACHER]
    if keys is not None:
        posts = [p for p in posts if last_user_text(p.json["messages"]) in keys]
    return posts


def _cost(messages, text) -> float:
    return (count_messages(messages) * TEACHER_IN + count_texts([text])[0] * TEACHER_OUT) / 1e6


def test_teacher_at_80_percent_labels_the_student(task, served):
    rules, server = served
    data = json.loads(compare(task, "--arms", "fewshot,finetuned,teacher,distilled",
                              "--json").stdout)
    arms = data["arms"]
    assert list(arms) == ["fewshot", "finetuned", "teacher", "distilled"]
    assert data["audit"]["leaks_in_run"] == 0
    assert arms["teacher"]["quality"]["mean"] == pytest.approx(0.8)
    assert arms["teacher"]["quality"]["n"] == N_EVAL
    assert arms["distilled"]["quality"]["mean"] == pytest.approx(0.8)
    assert arms["finetuned"]["quality"]["mean"] == 1.0
    dist = data["distillation"]
    assert dist["teacher"] == f"openai/{TEACHER}"
    assert dist["labelled"] == N_TRAIN and dist["inputs"] == N_TRAIN
    assert dist["dropped"] == {"empty": 0, "refused": 0, "invalid": 0}
    # the teacher answered each training input once, through the runner
    train_keys = set(_gold(TRAIN_IDS))
    labelling = teacher_posts(server, train_keys)
    assert sorted(last_user_text(p.json["messages"]) for p in labelling) == sorted(train_keys)
    assert len(teacher_posts(server)) == N_TRAIN + N_EVAL
    # the student's training set holds the teacher's answers, line by line
    lines = Path(dist["train_file"]).read_text().splitlines()
    assert len(lines) == N_TRAIN
    trace = [json.loads(x) for x in Path(dist["labels_file"]).read_text().splitlines()]
    for i, (line, row) in enumerate(zip(lines, trace)):
        ex = json.loads(line)
        prompt = _example(i, answer=False)["messages"]
        key = _prompt(i)
        expected = CATS[i % 4] if rules.teacher.is_right(key) else f"not {CATS[i % 4]}"
        assert ex["messages"] == prompt + [{"role": "assistant", "content": expected}]
        assert row == {"input_line": i + 1, "call_key": row["call_key"], "status": "kept",
                       "answer": expected, "train_line": i + 1}
    assert sum(1 for i in TRAIN_IDS if rules.teacher.is_right(_prompt(i))) == 16
    # the student was tuned on exactly that file, as an ordinary job
    jobs = server.jobs.values()
    assert len(jobs) == 2
    uploaded = {server.files[j["training_file"]]["content"].decode() for j in jobs}
    assert Path(dist["train_file"]).read_text() in uploaded
    assert dist["training"]["status"] == "succeeded"
    assert dist["student_model"].startswith("openai/ft:")
    # labelling cost = recorded usage × the teacher's price, and it is the student's training
    expected_cost = sum(_cost(p.json["messages"], rules.teacher.answer(
        last_user_text(p.json["messages"]))) for p in labelling)
    assert dist["labelling_cost_usd"] == pytest.approx(expected_cost, rel=1e-9)
    assert expected_cost > 0
    tune = dist["training"]["actual_cost_usd"]
    if tune is None:
        tune = dist["training"]["estimated_cost_usd"]
    econ_path = Path(data["report"]).parent / "results.json"
    results = json.loads(econ_path.read_text())
    econ = results["arms"]["distilled"]["economics"]
    assert econ["labelling_cost_usd"] == pytest.approx(expected_cost, rel=1e-9)
    assert econ["training_cost_usd"] == pytest.approx(tune + expected_cost, rel=1e-9)
    gold_econ = results["arms"]["finetuned"]["economics"]
    # the same tune on the same sizes costs the same: the student's extra is the labelling
    assert econ["training_cost_usd"] - gold_econ["training_cost_usd"] == pytest.approx(
        expected_cost + tune - gold_econ["training_cost_usd"], rel=1e-9)
    base = results["arms"]["fewshot"]
    saving = base["cost_per_1k_usd"] / 1000 - results["arms"]["distilled"]["cost_per_1k_usd"] / 1000
    fixed = econ["hosting_per_month_usd"] + econ["training_cost_usd"] / econ["amortisation_months"] \
        - base["economics"]["hosting_per_month_usd"]
    assert saving > 0
    assert econ["break_even_requests_per_month"] == math.ceil(fixed / saving)
    # what gold labels are worth over the teacher's: +20 points, paired on the same items
    g = dist["gold_over_teacher"]
    assert g["diff"] == pytest.approx(0.2) and g["n"] == N_EVAL
    assert "gold labels are worth +20.0 points" in data["verdict"]
    assert "labelling 20 examples cost" in data["verdict"]
    html = Path(data["report"]).read_text()
    assert 'id="distillation"' in html and "distill-train.jsonl" in html


def test_dropped_answers_are_counted_and_left_out(task, served, tmp_path):
    rules, server = served
    inputs = tmp_path / "inputs.jsonl"
    rows = [_example(i, answer=False) for i in TRAIN_IDS]
    rows[3]["messages"][1]["foo"] = "bar"  # an unrecognised key: `validate` rejects the example
    inputs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rules.teacher.script = {_prompt(0): "", _prompt(1): "   ",
                            _prompt(2): "I'm sorry, but I can't help with that."}
    data = json.loads(compare(task, "--arms", "fewshot,teacher,distilled", "--inputs",
                              str(inputs), "--json").stdout)
    dist = data["distillation"]
    assert dist["dropped"] == {"empty": 2, "refused": 1, "invalid": 1}
    assert dist["labelled"] == N_TRAIN - 4 and dist["inputs"] == N_TRAIN
    trace = [json.loads(x) for x in Path(dist["labels_file"]).read_text().splitlines()]
    assert [r["status"] for r in trace[:5]] == ["empty", "empty", "refused", "invalid", "kept"]
    assert trace[3]["invalid"] == "message_unrecognized_key"
    assert trace[4]["train_line"] == 1
    lines = Path(dist["train_file"]).read_text().splitlines()
    assert len(lines) == N_TRAIN - 4
    assert json.loads(lines[0])["messages"][1]["content"] == _prompt(4)
    # still labelled once each (dropped answers are paid for too)
    assert len(teacher_posts(server, set(_gold(TRAIN_IDS)))) == N_TRAIN


def test_dry_run_predicts_the_labelling(task, served):
    rules, server = served
    data = json.loads(compare(task, "--arms", "fewshot,teacher,distilled", "--dry-run",
                              "--json").stdout)
    lab = data["distillation"]["labelling"]
    assert lab["calls"] == N_TRAIN and lab["model"] == f"openai/{TEACHER}"
    most = sum((count_messages(_example(i, answer=False)["messages"]) * TEACHER_IN
                + 256 * TEACHER_OUT) / 1e6 for i in TRAIN_IDS)
    assert lab["predicted_cost_usd"] == pytest.approx(most, rel=1e-9)
    assert data["distillation"]["student"]["training_cost_usd"] > 0
    assert data["arms"]["teacher"]["calls"] == N_EVAL
    assert data["calls"] == N_EVAL * 3 + N_TRAIN  # the student's calls counted as the tuned arms'

    assert server.calls("POST", "/v1/chat/completions") == []
    text = compare(task, "--arms", "fewshot,teacher,distilled", "--dry-run").stdout
    assert f"labelling: openai/{TEACHER} answers {N_TRAIN} training inputs" in text


def test_config_errors_name_the_key(task, served, tmp_path, capsys):
    from ftdecide.cli.main import main

    (tmp_path / "in.jsonl").write_text('{"prompt": "hi"}\n')
    cases = {
        "arms: [fewshot, distilled]\nteacher: openai/gpt-4.1\n": "arms: distilled needs tune:",
        "arms: [fewshot, teacher]\n": "arms: teacher needs a teacher model",
        "inputs: in.jsonl\n": "inputs: unlabelled inputs need a teacher",
        "teacher: openai/gpt-4.1\ninputs: nowhere.jsonl\n": "inputs: ",
    }
    for extra, message in cases.items():
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: openai/{BASE}\n" + extra)
        with pytest.raises(SystemExit) as info:
            main(["compare", "--config", str(cfg)])
        err = capsys.readouterr().err
        assert info.value.code == 2, (extra, err)
        assert message in err and str(cfg) in err, err
        assert "Traceback" not in err


def test_teacher_alone_is_an_arm_and_the_default_arms_add_it(task, served):
    from ftdecide.compare import build_config

    config = build_config({"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
                           "model": f"openai/{BASE}", "teacher": f"openai/{TEACHER}"})
    assert config.arms == ("zeroshot", "fewshot", "rag", "teacher")
    assert any("distilled arm is left out" in n for n in config.notices)
    config = build_config({"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
                           "model": f"openai/{BASE}", "teacher": f"openai/{TEACHER}", "tune": {}})
    assert config.arms[-2:] == ("teacher", "distilled")
    rules, server = served
    data = json.loads(CliRunner().invoke(cli, [
        "compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
        "--model", f"openai/{BASE}", "--teacher", f"openai/{TEACHER}", "--arms",
        "fewshot,teacher", "--metric", "exact", "--out", str(task / "reports"), "--shots", "2",
        "--json"], catch_exceptions=False).stdout)
    assert data["arms"]["teacher"]["quality"]["mean"] == pytest.approx(0.8)
    assert data["distillation"] is None
    assert len(teacher_posts(server)) == N_EVAL  # no labelling without a student to train
    assert server.jobs == {}


def test_kill_after_labelling_then_resume_repeats_no_labelling_call(task, tmp_path):
    """A real ``ftdecide compare`` killed (SIGKILL) while the student's job runs, then resumed."""
    teacher = _teacher()
    rules = Rules(teacher, (task / "train.jsonl").read_text())
    data_dir = tmp_path / "data"
    env = {**os.environ, "FTDECIDE_DATA_DIR": str(data_dir), "FTDECIDE_LOAD_PLUGINS": "openai",
           "OPENAI_API_KEY": "sk-test", "FTDECIDE_POLL_INTERVAL": "0.05"}
    with OpenAICompatibleServer(responder=rules) as server:
        rules.server = server
        server.hold_jobs = True  # the student's job never finishes before the kill
        env["OPENAI_BASE_URL"] = server.base_url
        args = [sys.executable, "-m", "ftdecide", "compare", "--train", str(task / "train.jsonl"),
                "--eval", str(task / "eval.jsonl"), "--model", f"openai/{BASE}", "--teacher",
                f"openai/{TEACHER}", "--tune", "--yes", "--arms", "fewshot,teacher,distilled",
                "--metric", "exact", "--shots", "2", "--out", str(tmp_path / "reports"), "--json"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not server.jobs:
            time.sleep(0.05)
        assert server.jobs, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(data_dir / "ftdecide.db") as con:
            run_id = con.execute("SELECT id FROM runs").fetchone()[0]
            labelled = con.execute("SELECT count(*) FROM calls WHERE arm='labelling'").fetchone()[0]
        assert labelled == N_TRAIN
        before = len(teacher_posts(server))
        assert before == N_TRAIN
        server.hold_jobs = False
        out = subprocess.run([sys.executable, "-m", "ftdecide", "compare", "--resume", run_id,
                              "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "complete"
        # no labelling call again, no second job: the resumed run followed the first one
        assert len(teacher_posts(server, set(_gold(TRAIN_IDS)))) == N_TRAIN
        assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 1
        assert result["distillation"]["labelled"] == N_TRAIN
        assert result["arms"]["teacher"]["quality"]["mean"] == pytest.approx(0.8)
        assert result["arms"]["distilled"]["quality"]["mean"] == pytest.approx(0.8)


def test_labelling_through_the_batch_api_at_half_price(task, served, monkeypatch):
    import ftdecide.compare._runner

    monkeypatch.setattr(ftdecide.compare._runner, "BATCH_POLL_S", 0.01)
    rules, server = served
    result = compare(task, "--arms", "fewshot,teacher,distilled", "--batch")
    assert "distillation: openai/gpt-4.1-2025-04-14 labelled 20 of 20 inputs" in result.stdout
    assert "verdict:" in result.stdout
    print(result.stdout)
    # one batch per (model, phase): the labelling, then fewshot, teacher and the student
    assert len(server.calls("POST", "/v1/batches")) == 4
    data = json.loads(compare(task, "--arms", "fewshot,teacher,distilled", "--batch",
                              "--json").stdout)  # the same run again: every answer cached
    assert len(server.calls("POST", "/v1/batches")) == 4
    assert teacher_posts(server) == []  # every teacher call went through a batch
    dist = data["distillation"]
    expected = sum(_cost(_example(i, answer=False)["messages"], rules.teacher.answer(_prompt(i)))
                   for i in TRAIN_IDS) / 2
    assert dist["labelling_cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert dist["labelled"] == N_TRAIN


def test_budget_stop_in_the_labelling_then_resume(task, served):
    """The budget stops the labelling part-way: nothing is tuned (neither the student nor the
    gold model), the run is partial; a resume with a higher budget labels only what is
    missing, then tunes both."""
    rules, server = served
    arms = "fewshot,finetuned,teacher,distilled"
    # the least the run costs (the preflight's floor): both tunes' estimates and the prompt
    # tokens of every call it can plan (the dry run's upper bound less max_tokens of output)
    plan = json.loads(compare(task, "--arms", arms, "--dry-run", "--json").stdout)
    out_price = {f"openai/{TEACHER}": TEACHER_OUT, f"openai/{BASE}": 0.60}
    planned = [a for a in plan["arms"].values() if a["predicted_cost_usd"] is not None]
    planned.append(plan["distillation"]["labelling"])
    floor = (plan["tune"]["new_cost_usd"] + plan["distillation"]["student"]["training_cost_usd"]
             + sum(a["predicted_cost_usd"] - a["calls"] * 256 * out_price[a["model"]] / 1e6
                   for a in planned))
    budget = floor + 0.0003
    prompt = count_messages(_example(0, answer=False)["messages"])
    # a labelling call may cost up to its prompt + max_tokens answer tokens: chosen so that
    # after a few real calls ($0.00008 each) the next one could cross the budget
    max_tokens = int((budget * 1e6 - 2 * prompt - 200) / TEACHER_OUT)
    result = compare(task, "--arms", arms, "--max-cost", f"{budget:.6f}", "--max-tokens",
                     str(max_tokens), "--concurrency", "1", "--json", expect=1)
    data = json.loads(result.stdout)
    assert "Budget reached" in result.stderr
    assert data["status"] == "partial"
    assert data["distillation"]["status"] == "labelling stopped"
    assert "distilled" not in data["arms"] and "finetuned" not in data["arms"]
    assert server.jobs == {}  # no tune was paid once the budget stopped the labelling
    first = teacher_posts(server, set(_gold(TRAIN_IDS)))
    assert 0 < len(first) < N_TRAIN
    resumed = CliRunner().invoke(cli, ["compare", "--resume", data["run_id"], "--max-cost", "5",
                                       "--yes", "--json"], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    after = json.loads(resumed.stdout)
    assert after["status"] == "complete"
    labelling = teacher_posts(server, set(_gold(TRAIN_IDS)))
    assert len(labelling) == N_TRAIN  # each input labelled once over both invocations
    assert after["distillation"]["labelled"] == N_TRAIN
    assert after["arms"]["distilled"]["quality"]["mean"] == pytest.approx(0.8)
    assert after["arms"]["finetuned"]["quality"]["mean"] == 1.0
    assert len(server.jobs) == 2


def test_eval_prompts_among_the_inputs_are_left_out(task, served, tmp_path):
    rules, server = served
    inputs = tmp_path / "inputs.jsonl"
    rows = [_example(i, answer=False) for i in TRAIN_IDS] + [_example(500, answer=False),
                                                              _example(503, answer=False)]
    inputs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rules.teacher.answers.update({_prompt(500): CATS[0], _prompt(503): CATS[3]})
    data = json.loads(compare(task, "--arms", "fewshot,teacher,distilled", "--inputs",
                              str(inputs), "--json").stdout)
    assert data["audit"]["inputs_leaks"] == ["1", "4"]
    assert data["audit"]["excluded"] == ["1", "4"]
    assert data["arms"]["teacher"]["quality"]["n"] == N_EVAL - 2
    assert "2 eval item(s) found in the training set were left out" in data["verdict"]
    assert data["distillation"]["inputs"] == N_TRAIN + 2
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train: {task / 'train.jsonl'}\neval: {task / 'eval.jsonl'}\n"
                   f"model: openai/{BASE}\nteacher: openai/{TEACHER}\ntune: {{}}\n"
                   f"inputs: {inputs}\naudit: fail\narms: [fewshot, distilled]\n")
    result = CliRunner().invoke(cli, ["compare", "-c", str(cfg), "--dry-run"])
    assert result.exit_code != 0 and "also prompts of the teacher's inputs" in str(result.exception)


def test_scripted_teacher_is_exact_per_group_and_decided_by_the_item():
    a = {f"a{i}": "x" for i in range(10)}
    b = {f"b{i}": "y" for i in range(7)}
    t = ScriptedTeacher([a, b], 0.8, script={"a0": ""})
    assert len(t.right_keys & set(a)) == 8
    assert not t.is_right("a0")  # a scripted answer is never counted as right
    assert sum(t.is_right(k) for k in b) == round(0.8 * 7)
    # the same items are right whatever the order they are asked in, or the teacher asking
    again = ScriptedTeacher([dict(reversed(list(b.items()))), a], 0.8)
    assert {k for k in b if again.is_right(k)} == {k for k in b if t.is_right(k)}
    answers = [t({"messages": [{"role": "user", "content": k}]}) for k in b]
    assert answers.count("y") == 6 and answers.count("not y") == 1
    assert t.answer("a0") == "" and t.asked[-1] == "a0"
    with pytest.raises(KeyError):
        t.answer("unknown")
