"""Generation on the tiny model: usage, latency, batch == one-by-one, sampling, errors."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

import ftdecide
from ftdecide_hf_trl import HFProvider, generation, loading


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Generation tests run torch single-threaded (see conftest.one_torch_thread)."""


CONVERSATIONS = [
    [{"role": "user", "content": "zebra"}],
    [{"role": "user", "content": "the lion is a animal and the red apple is a fruit"}],
    [{"role": "system", "content": "Classify the word."}, {"role": "user", "content": "mango"}],
    [{"role": "user", "content": "teal"}, {"role": "assistant", "content": "color"},
     {"role": "user", "content": "otter"}],
    [{"role": "user", "content": "kiwi kiwi kiwi kiwi kiwi kiwi kiwi kiwi"}],
    [{"role": "user", "content": "a"}],
    [{"role": "system", "content": "the sheep"}, {"role": "user", "content": "camel is a"}],
    [{"role": "user", "content": [{"type": "text", "text": "the "},
                                  {"type": "text", "text": "koala"}]}],
    [{"role": "user", "content": "olive ochre peach plum rust sepia taupe"}],
    [{"role": "user", "content": "Lemur? Okapi! 123"}],
    [{"role": "user", "content": ""}],
]


@pytest.fixture
def spec(tiny_model_dir) -> str:
    return str(tiny_model_dir)


def _prompt_ids(tiny_model_dir, messages):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                   return_dict=True)["input_ids"]


def test_complete_usage_and_latency(spec, tiny_model_dir):
    c = generation.complete(spec, CONVERSATIONS[1], max_tokens=7)
    assert isinstance(c, ftdecide.Completion)
    assert c.usage.input_tokens == len(_prompt_ids(tiny_model_dir, CONVERSATIONS[1]))
    assert 1 <= c.usage.output_tokens <= 7
    assert c.usage.cached_input_tokens == 0
    assert c.latency_s > 0 and c.model == f"hf/{spec}"
    assert c.raw["finish_reason"] in ("stop", "length") and c.raw["batch_size"] == 1
    assert isinstance(c.text, str)


def test_batch_equals_one_by_one_greedy(spec):
    singles = [generation.complete(spec, m, max_tokens=10) for m in CONVERSATIONS]
    for batch_size in (16, 3):
        batch = generation.complete_batch(spec, CONVERSATIONS, max_tokens=10,
                                          batch_size=batch_size)
        assert [b.text for b in batch] == [s.text for s in singles]
        assert [b.usage for b in batch] == [s.usage for s in singles]
        assert [b.raw["finish_reason"] for b in batch] == [s.raw["finish_reason"] for s in singles]
    assert len({s.usage.input_tokens for s in singles}) >= 6     # the lengths really vary


FEW_SHOT = [{"role": "system", "content": "Label the word: animal, color or fruit."},
            {"role": "user", "content": "zebra"}, {"role": "assistant", "content": "animal"},
            {"role": "user", "content": "teal"}, {"role": "assistant", "content": "color"}]


def test_shared_prefix_is_prefilled_once(spec, monkeypatch):
    words = ["mango", "otter", "the red lion", "a", "kiwi kiwi kiwi", "olive ochre"]
    convs = [FEW_SHOT + [{"role": "user", "content": w}] for w in words] + CONVERSATIONS[:3]
    singles = [generation.complete(spec, m, max_tokens=8) for m in convs]
    calls = []
    real = generation._forward_kv

    def counting(entry, ids, past, support):
        calls.append((len(ids), past is not None))
        return real(entry, ids, past, support)

    monkeypatch.setattr(generation, "_forward_kv", counting)
    batch = generation.complete_batch(spec, convs, max_tokens=8, batch_size=4)
    assert [b.text for b in batch] == [s.text for s in singles]
    assert [b.usage for b in batch] == [s.usage for s in singles]
    assert all(b.raw["prefilled_by_row"] for b in batch)
    # the few-shot prefix is prefilled once for its 6 conversations (which sit in different
    # chunks), then each conversation on top of it; CONVERSATIONS[2] has its own system
    # prefix; CONVERSATIONS[0] and [1] (one message: no prefix) are prefilled whole
    assert sum(1 for _, has_past in calls if has_past) == len(words) + 1
    assert sum(1 for _, has_past in calls if not has_past) == 1 + 1 + 2
    monkeypatch.setattr(generation, "_prefill_support", lambda entry: None)
    plain = generation.complete_batch(spec, convs, max_tokens=8, batch_size=4)
    assert [b.text for b in plain] == [s.text for s in singles]
    assert not any(b.raw["prefilled_by_row"] for b in plain)


def test_prefix_boundary(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids, k = generation._tokenize(tok, FEW_SHOT + [{"role": "user", "content": "mango"}], 0)
    head = tok.apply_chat_template(FEW_SHOT, tokenize=False)
    assert k == len(tok(head, add_special_tokens=False)["input_ids"]) and 0 < k < len(ids)
    assert ids == _prompt_ids(tiny_model_dir, FEW_SHOT + [{"role": "user", "content": "mango"}])
    assert generation._tokenize(tok, CONVERSATIONS[0], 0)[1] == 0


def test_batch_order_and_latency_split(spec):
    batch = generation.complete_batch(spec, CONVERSATIONS, max_tokens=5, batch_size=4)
    reversed_batch = generation.complete_batch(spec, CONVERSATIONS[::-1], max_tokens=5,
                                               batch_size=4)
    assert [c.text for c in reversed_batch] == [c.text for c in batch][::-1]
    # each generate call's wall time is split evenly among its items
    walls = {}
    for c in batch:
        assert c.latency_s == pytest.approx(c.raw["batch_wall_s"] / c.raw["batch_size"])
        walls.setdefault(c.raw["batch_wall_s"], []).append(c)
    assert sorted(len(v) for v in walls.values()) == [3, 4, 4]
    assert generation.complete_batch(spec, [], max_tokens=5) == []


def test_end_of_sequence_counting(spec, tiny_model_dir, tmp_path):
    """Make the second greedy token an end-of-sequence token: the text stops before it, the
    count includes it, and batch padding after it is not counted."""
    first = generation.complete(spec, CONVERSATIONS[0], max_tokens=6)
    assert first.raw["finish_reason"] == "length" and first.usage.output_tokens == 6
    model, tok = loading.load(spec)
    enc = tok(tok.apply_chat_template(CONVERSATIONS[0], add_generation_prompt=True,
                                      tokenize=False), add_special_tokens=False,
              return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)
    stop_id = int(out[0, -1])
    folder = tmp_path / "tiny-eos"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "generation_config.json").read_text())
    cfg["eos_token_id"] = [tok.eos_token_id, stop_id]
    (folder / "generation_config.json").write_text(json.dumps(cfg))

    single = generation.complete(str(folder), CONVERSATIONS[0], max_tokens=6)
    assert single.raw["finish_reason"] == "stop"
    assert single.usage.output_tokens == 2
    assert single.text == tok.decode(out[0, -2:-1], skip_special_tokens=True)
    batch = generation.complete_batch(str(folder), CONVERSATIONS, max_tokens=6)
    assert (batch[0].text, batch[0].usage) == (single.text, single.usage)
    assert batch[0].raw["finish_reason"] == "stop"
    singles = [generation.complete(str(folder), m, max_tokens=6) for m in CONVERSATIONS]
    assert [b.text for b in batch] == [s.text for s in singles]
    assert [b.usage for b in batch] == [s.usage for s in singles]


def test_sampling_is_seeded_and_greedy_is_default(spec):
    msgs = CONVERSATIONS[2]
    a = generation.complete(spec, msgs, max_tokens=12, temperature=1.0, seed=7)
    b = generation.complete(spec, msgs, max_tokens=12, temperature=1.0, seed=7)
    c = generation.complete(spec, msgs, max_tokens=12, temperature=1.0, seed=8)
    assert a.text == b.text
    assert c.text != a.text
    top_p = generation.complete(spec, msgs, max_tokens=12, top_p=0.9, seed=3)
    assert top_p.text == generation.complete(spec, msgs, max_tokens=12, top_p=0.9, seed=3).text
    greedy = generation.complete(spec, msgs, max_tokens=12)
    assert generation.complete(spec, msgs, max_tokens=12, temperature=0, seed=5).text == greedy.text
    batch1 = generation.complete_batch(spec, CONVERSATIONS[:4], max_tokens=8, temperature=0.8,
                                       seed=11)
    batch2 = generation.complete_batch(spec, CONVERSATIONS[:4], max_tokens=8, temperature=0.8,
                                       seed=11)
    assert [x.text for x in batch1] == [x.text for x in batch2]


def test_parameter_errors(spec):
    msgs = CONVERSATIONS[0]
    with pytest.raises(ftdecide.UsageError, match="unsupported completion parameter"):
        generation.complete(spec, msgs, frequency_penalty=0.5)
    for bad in ({"max_tokens": 0}, {"max_tokens": 2.5}, {"temperature": -1}, {"top_p": 0},
                {"seed": "x"}, {"batch_size": 0}):
        with pytest.raises(ftdecide.UsageError):
            generation.complete_batch(spec, [msgs], **bad)
    with pytest.raises(ftdecide.UsageError, match="no messages"):
        generation.complete(spec, [])
    # None values are "not set"
    assert generation.complete(spec, msgs, max_tokens=3, temperature=None, top_p=None).usage


def test_context_window(spec):
    long = [{"role": "user", "content": "zebra " * 200}]
    with pytest.raises(ftdecide.UsageError, match="context window of 128"):
        generation.complete(spec, long)
    near = [{"role": "user", "content": "zebra " * 30}]
    c = generation.complete(spec, near, max_tokens=1000)
    assert c.usage.input_tokens + c.usage.output_tokens <= 128
    assert c.raw["finish_reason"] == "length"


def test_concurrent_calls_match_sequential(spec):
    expected = [generation.complete(spec, m, max_tokens=6).text for m in CONVERSATIONS[:6]]
    got: dict[int, str] = {}

    def worker(i):
        got[i] = generation.complete(spec, CONVERSATIONS[i], max_tokens=6).text

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(6)] == expected


def test_load_time_reported_once(tiny_model_dir, tmp_path):
    folder = tmp_path / "fresh-tiny"
    shutil.copytree(tiny_model_dir, folder)
    first = generation.complete_batch(str(folder), CONVERSATIONS[:3], max_tokens=2)
    assert first[0].raw["load_s"] > 0
    assert all("load_s" not in c.raw for c in first[1:])
    assert "load_s" not in generation.complete(str(folder), CONVERSATIONS[0], max_tokens=2).raw


def test_provider_delegates(spec):
    p = HFProvider()
    msgs = CONVERSATIONS[3]
    assert p.complete(msgs, model=spec, max_tokens=4).text == generation.complete(
        spec, msgs, max_tokens=4).text
    got = p.complete_batch(CONVERSATIONS[:3], model=spec, max_tokens=4, batch_size=2)
    assert [c.text for c in got] == [generation.complete(spec, m, max_tokens=4).text
                                     for m in CONVERSATIONS[:3]]


def test_no_chat_template(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ftdecide.UsageError, match="no chat template"):
        generation.complete(str(folder), CONVERSATIONS[0])
