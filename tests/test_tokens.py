import hashlib
import socket
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.data import _tokens as tokens
from ftdecide.errors import UsageError


def cookbook_num_tokens(messages, encoding, tokens_per_message=3, tokens_per_name=1):
    # The OpenAI cookbook's num_tokens_from_messages, as written there.
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("token counting tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_bundled_encodings_match_tiktoken_hashes(name):
    data = resources.files("ftdecide").joinpath(f"encodings/{name}.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == tokens.ENCODING_SHA256[name]


def test_known_token_ids_offline():
    assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert tokens.get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert tokens.get_encoding("o200k_base").name == "o200k_base"


def test_unknown_encoding():
    with pytest.raises(UsageError, match="unknown encoding 'p50k_base'"):
        tokens.get_encoding("p50k_base")


def test_cookbook_accounting_with_name():
    msgs = [{"role": "user", "content": "hi there"},
            {"role": "assistant", "content": "ok", "name": "bob"}]
    enc = tokens.get_encoding("o200k_base")
    assert tokens.count_messages(msgs) == cookbook_num_tokens(msgs, enc) == 16


def test_weight_key_is_not_counted_as_text():
    a = [{"role": "assistant", "content": "ok", "weight": 1}]
    b = [{"role": "assistant", "content": "ok"}]
    assert tokens.count_messages(a) == tokens.count_messages(b)


def test_special_token_text_is_counted_as_text():
    # Users' data may contain "<|endoftext|>" literally: it is text, never an error.
    assert tokens.count_messages([{"role": "user", "content": "<|endoftext|>"}]) > 7


message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=60)},
    optional={"name": st.text(alphabet="abcdefghij", min_size=1, max_size=8)},
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(message, min_size=1, max_size=4), min_size=1, max_size=8),
       st.sampled_from(["o200k_base", "cl100k_base"]))
def test_batched_counts_equal_cookbook_loop(examples, name):
    enc = tokens.get_encoding(name)
    expected = [cookbook_num_tokens(m, _Ordinary(enc))
                for m in examples]
    assert tokens.count_examples(examples, name) == expected


class _Ordinary:
    """The cookbook calls encode(); on text with special-token strings that raises,
    so compare with the ordinary encoding, which is what counting text means."""

    def __init__(self, enc):
        self.enc = enc

    def encode(self, text):
        return self.enc.encode_ordinary(text)


def test_count_assistant_and_texts():
    ex = [[{"role": "user", "content": "a b c"}, {"role": "assistant", "content": "hello world"}],
          [{"role": "user", "content": "x"}]]
    assert tokens.count_assistant(ex) == [2, 0]
    assert tokens.count_texts([]) == []


def test_batched():
    assert list(tokens.batched(range(5), 2)) == [[0, 1], [2, 3], [4]]


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=80) | st.sampled_from(["", "<|endoftext|>", "a<|fim_prefix|>b", "x\ud800y",
                                               "caf\u00e9 \u4e2d\u6587  \n\n", "<|im_start|>"]),
       st.sampled_from(["o200k_base", "cl100k_base"]))
def test_fast_length_equals_encode_ordinary(text, name):
    # the counting shortcut (tiktoken's buffer entry point) must count exactly
    # what encode_ordinary gives, special-token text and lone surrogates included
    assert tokens._length_of(name)(text) == len(tokens.get_encoding(name).encode_ordinary(text))


def test_role_values_are_counted_without_encoding_them():
    # a role outside the known ones is still encoded and counted as text
    msgs = [{"role": "user", "content": "hi"}, {"role": "narrator", "content": "so"},
            {"role": "assistant", "content": "ok"}]
    enc = tokens.get_encoding("o200k_base")
    assert tokens.count_messages(msgs) == cookbook_num_tokens(msgs, enc)


def test_max_threads():
    with pytest.raises(ValueError):
        tokens.set_max_threads(0)
    texts = [f"text number {i}" for i in range(tokens._PARALLEL_MIN + 10)]
    expected = tokens.count_texts(texts)
    tokens.release_threads()
    tokens.set_max_threads(1)
    try:
        assert tokens.count_texts(texts) == expected
        assert tokens._executor is None  # one thread: the caller's, no pool
    finally:
        tokens.set_max_threads(None)


def _count_in_child(conn, texts):
    conn.send(tokens.count_texts(texts))


def test_forked_child_gets_a_fresh_pool():
    # The parent's pool threads do not exist in a forked child; without the
    # at-fork reset the child would queue work to them and wait forever.
    import multiprocessing

    texts = [f"text number {i}" for i in range(tokens._PARALLEL_MIN + 10)]
    expected = tokens.count_texts(texts)
    if tokens._workers() == 1:
        pytest.skip("one core: no pool")
    assert tokens._executor is not None
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    proc = context.Process(target=_count_in_child, args=(child, texts))
    proc.start()
    assert parent.poll(30), "the child hung"
    assert parent.recv() == expected
    proc.join(10)
    assert proc.exitcode == 0
    tokens.release_threads()
    assert tokens._executor is None
    assert tokens.count_texts(texts) == expected  # started again on demand
