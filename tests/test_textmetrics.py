"""Free-text metrics: rouge-l, chrf, bleu and similarity against the reference libraries.

Every expected value is computed here with the library itself (rouge-score,
sacrebleu, scikit-learn), never copied from our code; the end-to-end runs use
the real openai SDK over HTTP against the local test server and a real run store.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import sacrebleu
from click.testing import CliRunner
from rouge_score import rouge_scorer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from ftdecide.cli.main import cli
from ftdecide.compare._metrics import get_metric
from ftdecide.compare._textmetrics import UnicodeTokenizer
from ftdecide.data._tokens import count_texts
from ftdecide.errors import UsageError
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import FakePlugin, FakeProvider, OpenAICompatibleServer, hashed_embedding

ASCII_PAIRS = [
    ("Your refund was sent today and should arrive within 5 days.",
     "We sent your refund today; it should arrive in five days."),
    ("Thanks for reaching out! Your account is now unlocked.",
     "Thanks for reaching out! Your account is now unlocked."),
    ("The router must be restarted before the update.", "Please restart the router first."),
    ("We are sorry for the delay.", "Totally unrelated words here"),
    ("Running runners ran quickly", "run runner running quick"),
]
NON_ASCII_PAIRS = [
    ("Ваш возврат отправлен сегодня.", "Ваш возврат отправлен сегодня."),
    ("Ваш возврат отправлен сегодня.", "Возврат отправлен вчера."),
    ("Le café est prêt, merci !", "Le café est prêt."),
    ("返金は本日送信されました。", "返金は明日送信されます。"),
]


def library(name: str, expected: str, answer: str, tokenizer=None) -> float:
    if name == "rouge-l":
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True, tokenizer=tokenizer)
        return scorer.score(expected, answer)["rougeL"].fmeasure
    if name == "chrf":
        return sacrebleu.sentence_chrf(answer, [expected]).score / 100
    return sacrebleu.sentence_bleu(answer, [expected]).score / 100


@pytest.mark.parametrize("name", ["rouge-l", "chrf", "bleu"])
def test_ascii_scores_are_the_libraries_defaults(name):
    metric = get_metric(name)
    assert metric.binary is False and metric.source == "built-in"
    many, usage = metric.score_many(ASCII_PAIRS)
    assert usage is None
    for (expected, answer), batch in zip(ASCII_PAIRS, many):
        want = library(name, expected, answer)  # rouge-l: the library's default tokenizer
        assert metric.score(expected, answer).value == pytest.approx(want, abs=1e-9)
        assert batch.value == pytest.approx(want, abs=1e-9)
        assert 0.0 <= batch.value <= 1.0
    assert metric.score(*ASCII_PAIRS[1]).value == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["chrf", "bleu"])
def test_non_ascii_scores_are_sacrebleus(name):
    for expected, answer in NON_ASCII_PAIRS:
        got = get_metric(name).score(expected, answer).value
        assert got == pytest.approx(library(name, expected, answer), abs=1e-9)


def test_rouge_l_keeps_non_ascii_words():
    # rouge-score's default tokenizer keeps only a-z0-9: an identical Russian answer scores 0
    # there. Ours is the library's scorer with the character class widened to Unicode.
    same = NON_ASCII_PAIRS[0]
    assert library("rouge-l", *same) == 0.0
    assert get_metric("rouge-l").score(*same).value == pytest.approx(1.0)
    for expected, answer in NON_ASCII_PAIRS:
        want = library("rouge-l", expected, answer, tokenizer=UnicodeTokenizer())
        assert get_metric("rouge-l").score(expected, answer).value == pytest.approx(want, abs=1e-9)
    # "café" stays one word (the default tokenizer makes it "caf")
    assert UnicodeTokenizer(use_stemmer=False).tokenize("Le café est prêt") == \
        ["le", "café", "est", "prêt"]


@pytest.mark.parametrize("name", ["rouge-l", "chrf", "bleu", "similarity"])
def test_empty_answer_scores_zero(name):
    metric = get_metric(name)
    for answer in ("", "   \n"):
        assert metric.score("The refund was sent.", answer).value == 0.0
    scores, _ = metric.score_many([("The refund was sent.", ""), ("a refund", "a refund")])
    assert scores[0].value == 0.0 and scores[1].value == pytest.approx(1.0)


def test_tfidf_similarity_is_sklearns_cosine():
    pairs = ASCII_PAIRS + NON_ASCII_PAIRS + [("Your refund was sent today.", "")]
    scores, usage = get_metric("similarity").score_many(pairs)
    assert usage is None  # offline: nothing called, nothing paid
    texts = sorted({t for pair in pairs for t in pair})
    vectorizer = TfidfVectorizer().fit(texts)
    for (expected, answer), got in zip(pairs, scores):
        want = cosine_similarity(vectorizer.transform([expected]), vectorizer.transform([answer]))
        assert got.value == pytest.approx(float(want[0, 0]), abs=1e-9)
    assert "TF-IDF, offline" in get_metric("similarity").description


def test_unknown_metric_lists_the_new_names():
    with pytest.raises(UsageError) as info:
        get_metric("rouge")
    for name in ("rouge-l", "chrf", "bleu", "similarity"):
        assert name in str(info.value)
    assert get_metric("ROUGE_L").name == "rouge-l"


# -- the test server's embeddings and the openai plugin -----------------------------------------

def test_server_embeddings_through_the_sdk():
    import openai

    with OpenAICompatibleServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        texts = ["the refund was sent", "Ваш возврат"]
        exact = client.embeddings.create(model="text-embedding-3-small", input=texts,
                                         encoding_format="float")
        assert [d.embedding for d in exact.data] == [hashed_embedding(t) for t in texts]
        assert exact.usage.prompt_tokens == sum(count_texts(texts))
        packed = client.embeddings.create(model="text-embedding-3-small", input=texts[0])
        assert packed.data[0].embedding == pytest.approx(hashed_embedding(texts[0]), abs=1e-7)
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model="text-embedding-3-small", input=[""])


def test_openai_plugin_embeds_and_others_do_not(monkeypatch):
    from ftdecide_openai.provider import OpenAIProvider

    with OpenAICompatibleServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-embed")
        provider = OpenAIProvider(base_url=server.base_url)
        assert provider.can_embed() and not FakeProvider().can_embed()
        got = provider.embed(["refund sent", "refund sent today"], model="text-embedding-3-small")
        assert got.vectors == [hashed_embedding("refund sent"), hashed_embedding("refund sent today")]
        assert got.input_tokens == sum(count_texts(["refund sent", "refund sent today"]))
        assert server.requests[-1].json["model"] == "text-embedding-3-small"


# -- compare end to end ------------------------------------------------------------------------

def _reply(i: int) -> str:
    return f"Hello! Your refund for order {i} is on its way and arrives within {i % 5 + 2} days."


def _example(i: int, held_out: bool = False) -> dict:
    note = (f"customer wonders where the money for order {i} went; it left us, {i % 5 + 2} days"
            if held_out else f"note: refund order {i} sent, eta {i % 5 + 2}d")
    return {"messages": [
        {"role": "system", "content": "Rewrite the note as a friendly support reply."},
        {"role": "user", "content": note},
        {"role": "assistant", "content": _reply(i)}]}


def server_rule(request: dict) -> str:
    """Few-shot (several user turns) answers the reference; zero-shot a terse, partial reply."""
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    i = int(re.search(r"order (\d+)", users[-1]).group(1))
    if len(users) > 1:
        return _reply(i)
    return f"Refund for order {i} sent." if i % 3 else ""


N_EVAL = 12


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(1, 21)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i, True)) + "\n" for i in range(100, 100 + N_EVAL)))
    return tmp_path


@pytest.fixture
def server(monkeypatch):
    with OpenAICompatibleServer(responder=server_rule) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-textmetrics")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        registry = Registry()
        registry.add_plugin(FakePlugin(FakeProvider(), name="third-party"))
        set_registry(registry)
        yield s


def compare(task, *extra, expect=0):
    args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", "openai/gpt-4o-mini-2024-07-18", "--arms", "zeroshot,fewshot",
            "--out", str(task / "reports"), "--shots", "2", "--json", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def refused(task, capsys, *extra) -> str:
    """Run compare as the ``ftdecide`` command does; it must exit 2 with a message, no traceback."""
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["compare", "--train", str(task / "train.jsonl"), "--eval",
              str(task / "eval.jsonl"), "--model", "openai/gpt-4o-mini-2024-07-18",
              "--arms", "zeroshot,fewshot", "--out", str(task / "reports"), *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err, err
    return err


def _items(data: dict) -> list[dict]:
    return json.loads(Path(data["report"]).with_name("results.json").read_text())["items"]


def test_compare_with_rouge_l_gives_intervals_and_library_scores(task, server):
    data = json.loads(compare(task, "--metric", "rouge-l").stdout)
    zs, fs = data["arms"]["zeroshot"]["quality"], data["arms"]["fewshot"]["quality"]
    assert fs["metric"] == "rouge-l" and fs["mean"] == pytest.approx(1.0)
    assert zs["n"] == N_EVAL and 0 < zs["ci_low"] <= zs["mean"] <= zs["ci_high"] < 1
    vs = data["arms"]["zeroshot"]["vs_baseline"]
    assert vs["diff"] < 0 and vs["ci_high"] < 0 and vs["p_value"] < 0.05
    for item in _items(data):
        out = item["outputs"]["zeroshot"]
        assert out["score"] == pytest.approx(library("rouge-l", item["expected"], out["text"]),
                                             abs=1e-9)
    assert data["metric"]["name"] == "rouge-l" and data["evaluation_cost_usd"] == 0.0


def test_compare_with_chrf_and_bleu(task, server):
    for name in ("chrf", "bleu"):
        data = json.loads(compare(task, "--metric", name).stdout)
        for item in _items(data):
            out = item["outputs"]["zeroshot"]
            assert out["score"] == pytest.approx(library(name, item["expected"], out["text"]),
                                                 abs=1e-9)


def test_similarity_offline_is_named_tfidf(task, server):
    data = json.loads(compare(task, "--metric", "similarity").stdout)
    assert data["metric"]["description"].startswith("similarity (TF-IDF, offline)")
    assert data["metric"]["evaluation"] is None and data["evaluation_cost_usd"] == 0.0
    assert server.calls("POST", "/v1/embeddings") == []
    html = Path(data["report"]).read_text()
    assert "similarity (TF-IDF, offline)" in html


def _embedding_config(task, key: str = "similarity: {model: openai/text-embedding-3-small}"):
    cfg = task / "compare.yaml"
    cfg.write_text(f"train: train.jsonl\neval: eval.jsonl\n{key}\n")
    return cfg


def test_similarity_with_embeddings_costs_evaluation_not_serving(task, server):
    rouge = json.loads(compare(task, "--metric", "rouge-l").stdout)
    cfg = _embedding_config(task)
    data = json.loads(compare(task, "--metric", "similarity", "--config", str(cfg)).stdout)
    items = _items(data)
    for item in items:
        for out in item["outputs"].values():
            want = 0.0 if not out["text"].strip() else cosine_similarity(
                [hashed_embedding(item["expected"])], [hashed_embedding(out["text"])])[0, 0]
            assert out["score"] == pytest.approx(float(want), abs=1e-9)
    texts = sorted({t for item in items for t in [item["expected"]]
                    + [o["text"] for o in item["outputs"].values()] if t.strip()})
    posts = server.calls("POST", "/v1/embeddings")
    assert sorted(t for p in posts for t in p.json["input"]) == texts  # each text once, no ""
    ev = data["metric"]["evaluation"]
    tokens = sum(count_texts(texts))
    assert ev == {"backend": "provider", "model": "openai/text-embedding-3-small",
                  "texts": len(texts), "cached_texts": 0, "calls": len(posts),
                  "input_tokens": tokens, "cost_usd": pytest.approx(tokens * 0.02 / 1e6)}
    assert data["evaluation_cost_usd"] == pytest.approx(tokens * 0.02 / 1e6)
    assert "text-embedding-3-small embeddings" in data["metric"]["description"]
    # the arms' serving cost is that of their chat calls alone (the same as a rouge-l run's)
    for arm in ("zeroshot", "fewshot"):
        assert data["arms"][arm]["cost_per_1k_usd"] == pytest.approx(
            rouge["arms"][arm]["cost_per_1k_usd"])
    assert "Evaluation cost" in Path(data["report"]).read_text()
    # a re-run embeds nothing again: every vector comes from the run store
    again = json.loads(compare(task, "--metric", "similarity", "--config", str(cfg)).stdout)
    assert len(server.calls("POST", "/v1/embeddings")) == len(posts)
    assert again["metric"]["evaluation"]["cached_texts"] == len(texts)
    assert again["metric"]["evaluation"]["calls"] == 0
    assert again["evaluation_cost_usd"] == 0.0
    assert [i["outputs"] for i in _items(again)] != [] and \
        [o["score"] for i in _items(again) for o in i["outputs"].values()] == \
        [o["score"] for i in items for o in i["outputs"].values()]
    db = sqlite3.connect(Path(__import__("os").environ["FTDECIDE_DATA_DIR"]) / "ftdecide.db")
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == len(texts)


def test_embedding_model_shorthand_and_bad_settings(task, server, capsys):
    cfg = _embedding_config(task, "embedding_model: openai/text-embedding-3-small")
    data = json.loads(compare(task, "--metric", "similarity", "--config", str(cfg)).stdout)
    assert data["metric"]["evaluation"]["model"] == "openai/text-embedding-3-small"
    bad = _embedding_config(task, "similarity: {modle: openai/text-embedding-3-small}")
    err = refused(task, capsys, "--metric", "similarity", "--config", str(bad))
    assert "similarity.modle: unknown key" in err and "compare.yaml:3" in err
    # a provider without embed() is refused before any call
    before = len(server.requests)
    nope = _embedding_config(task, "similarity: {model: fake/fake-tunable}")
    err = refused(task, capsys, "--metric", "similarity", "--config", str(nope))
    assert "has no embeddings" in err and "openai" in err
    assert len(server.requests) == before


def test_empty_expected_answer_is_refused_before_any_call(task, server, capsys):
    rows = [_example(i, True) for i in range(100, 104)]
    rows[2]["messages"][-1]["content"] = "  "
    (task / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    err = refused(task, capsys, "--metric", "chrf")
    assert "empty expected answer" in err and "eval.jsonl:3" in err
    assert server.calls("POST", "/v1/chat/completions") == []


def test_embedding_failure_then_resume_pays_for_nothing_twice(task, server, capsys):
    from ftdecide.cli.main import main
    from ftdecide.compare import RunStore

    cfg = _embedding_config(task)
    server.fail_next(500, times=10, path="/v1/embeddings")  # more than the SDK's retries
    with pytest.raises(SystemExit) as info:
        main(["compare", "--config", str(cfg), "--metric", "similarity", "--arms",
              "zeroshot,fewshot", "--shots", "2", "--model", "openai/gpt-4o-mini-2024-07-18",
              "--out", str(task / "reports")])
    assert info.value.code == 3, capsys.readouterr().err
    server.reset()
    chats = len(server.calls("POST", "/v1/chat/completions"))
    record = RunStore().runs(1)[0]
    assert record.status == "failed"
    run_id = record.id
    result = CliRunner().invoke(cli, ["compare", "--resume", run_id, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(server.calls("POST", "/v1/chat/completions")) == chats  # every answer recorded
    ev = data["metric"]["evaluation"]
    assert ev["calls"] == len(server.calls("POST", "/v1/embeddings")) >= 1
    assert ev["cached_texts"] == 0 and data["evaluation_cost_usd"] > 0


# -- the embeddings' cost before the run: dry run, budget floor, --max-cost --------------------

def _dry(task, *extra) -> dict:
    return json.loads(compare(task, "--metric", "similarity", "--dry-run", *extra).stdout)


def test_dry_run_prices_the_embeddings_apart_and_tfidf_as_free(task, server):
    tfidf = _dry(task)
    assert tfidf["similarity"]["backend"] == "tfidf"
    assert tfidf["similarity"]["cost"] == "offline, free"
    assert tfidf["predicted_cost_usd"] == pytest.approx(
        sum(a["predicted_cost_usd"] for a in tfidf["arms"].values()))
    text = CliRunner().invoke(cli, ["compare", "--train", str(task / "train.jsonl"), "--eval",
                                    str(task / "eval.jsonl"), "--model",
                                    "openai/gpt-4o-mini-2024-07-18", "--arms", "zeroshot,fewshot",
                                    "--shots", "2", "--metric", "similarity", "--dry-run"])
    line = next(ln for ln in text.output.splitlines() if ln.startswith("similarity"))
    assert "offline, free" in line and "$" not in line

    # embeddings, nothing answered yet: the expected answers, and every answer at max_tokens
    cfg = _embedding_config(task)
    plan = _dry(task, "--config", str(cfg))
    sim = plan["similarity"]
    expected = sorted({json.loads(ln)["messages"][-1]["content"]
                       for ln in (task / "eval.jsonl").read_text().splitlines()})
    tokens = sum(count_texts(expected)) + 2 * N_EVAL * 256
    assert (sim["backend"], sim["model"], sim["texts"], sim["unknown_answers"]) == (
        "provider", "openai/text-embedding-3-small", N_EVAL, 2 * N_EVAL)
    assert sim["input_tokens"] == tokens
    assert sim["predicted_cost_usd"] == pytest.approx(tokens * 0.02 / 1e6)
    arms = sum(a["predicted_cost_usd"] for a in plan["arms"].values())
    assert plan["predicted_cost_usd"] == pytest.approx(arms + sim["predicted_cost_usd"])
    assert server.calls("POST", "/v1/embeddings") == []

    # once the answers are cached (a rouge-l run), the forecast is the run's exact cost
    compare(task, "--metric", "rouge-l")
    plan = _dry(task, "--config", str(cfg))
    assert plan["similarity"]["unknown_answers"] == 0
    assert plan["similarity"]["floor_usd"] == plan["similarity"]["predicted_cost_usd"] > 0
    data = json.loads(compare(task, "--metric", "similarity", "--config", str(cfg)).stdout)
    assert data["evaluation_cost_usd"] == pytest.approx(plan["similarity"]["predicted_cost_usd"],
                                                        rel=1e-9)
    # embedded now: a dry run predicts nothing more
    assert _dry(task, "--config", str(cfg))["similarity"]["predicted_cost_usd"] == 0.0


def test_max_cost_counts_the_embeddings(task, server, capsys):
    compare(task, "--metric", "rouge-l")  # the arms' answers come from the cache from now on
    cfg = _embedding_config(task)
    floor = _dry(task, "--config", str(cfg))["similarity"]["floor_usd"]
    assert floor > 0
    # the arms cost nothing more, so only the embeddings can be above this budget
    err = refused(task, capsys, "--metric", "similarity", "--config", str(cfg),
                  "--max-cost", f"{floor / 2:.10f}")
    assert "embeddings of" in err and "nothing was called" in err
    assert server.calls("POST", "/v1/embeddings") == []
    data = json.loads(compare(task, "--metric", "similarity", "--config", str(cfg),
                              "--max-cost", f"{floor * 2:.10f}").stdout)
    assert data["evaluation_cost_usd"] == pytest.approx(floor, rel=1e-9)
