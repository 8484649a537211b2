"""Retrieval: corpus loading and splitting, TF-IDF and BM25 against reference computations,
and the bundled triage corpus and training set."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.compare import _retrieval as retrieval
from ftdecide.compare._retrieval import (
    PASSAGE_CHARS,
    Passage,
    Retriever,
    load_corpus,
    passages_from_examples,
    split_passages,
)
from ftdecide.data import Example, load_examples
from ftdecide.data._prompts import split_example
from ftdecide.errors import DataError, UsageError

TRIAGE = Path(retrieval.__file__).parents[1] / "examples" / "triage"
CORPUS = TRIAGE / "corpus"


def squash(text: str) -> str:
    return "".join(text.split())


def user_text(example: Example) -> str:
    prompt, _ = split_example(example.messages)
    return [m["content"] for m in prompt if m["role"] == "user"][-1]


# -- splitting -------------------------------------------------------------------------------

def test_paragraphs_merge_up_to_the_limit_and_headings_start_passages():
    text = ("# Title\n\nIntro paragraph.\n\n## Part one\n\nFirst.\n\nSecond.\n"
            "## Part two\nThird.\n\n\n\nFourth.\n")
    assert split_passages(text) == [
        "# Title\n\nIntro paragraph.",
        "## Part one\n\nFirst.\n\nSecond.",
        "## Part two\n\nThird.\n\nFourth.",
    ]


def test_a_heading_stays_with_the_text_under_it():
    text = "# Title\n## Sub\n\n" + "x" * 50
    assert split_passages(text, limit=40) == ["# Title\n## Sub\n\n" + "x" * 40, "x" * 10]


def test_paragraphs_are_not_split_when_they_fit():
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(12)]
    passages = split_passages("\n\n".join(paragraphs), limit=400)
    assert len(passages) > 1
    for p in paragraphs:  # each paragraph whole, in exactly one passage
        assert sum(p.strip() in passage for passage in passages) == 1
    assert all(len(passage) <= 400 for passage in passages)


def test_a_long_paragraph_is_split_at_lines_then_sentences_then_words():
    table = "\n".join(f"| row {i} | " + "cell " * 10 + "|" for i in range(40))
    pieces = split_passages(table, limit=200)
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.startswith("| row") and p.endswith("|") for p in pieces)  # whole rows
    prose = " ".join(f"Sentence number {i} ends here." for i in range(60))
    pieces = split_passages(prose, limit=120)
    assert all(len(p) <= 120 and p.endswith("here.") for p in pieces)  # whole sentences
    words = "x" * 300
    assert split_passages(words, limit=120) == ["x" * 120, "x" * 120, "x" * 60]


def test_a_fenced_code_block_with_blank_lines_stays_whole():
    text = "Before.\n\n```python\ndef f():\n\n    return 1\n```\n\nAfter."
    assert split_passages(text) == [text]
    assert split_passages(text, limit=40) == ["Before.", "```python\ndef f():\n\n    return 1\n```",
                                              "After."]
    # a code block longer than the limit is cut at lines, indentation kept
    assert split_passages(text, limit=30) == ["Before.\n\n```python\ndef f():",
                                              "    return 1\n```\n\nAfter."]
    # an unclosed fence runs to the end of the document
    assert split_passages("Text.\n\n```\ncode\n\nmore", limit=14) == ["Text.", "```\ncode\n\nmore"]


lines = st.one_of(
    st.just(""), st.just("```"), st.just("~~~ py"), st.just("# H"), st.just("   ## sub"),
    st.text(" ab.!?\t", max_size=40),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),
)
HEADING_LINE = re.compile(r"^ {0,3}#{1,6}(\s|$)")


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=40), st.integers(5, 900))
def test_splitting_loses_and_reorders_nothing(doc_lines, limit):
    text = "\n".join(doc_lines)
    passages = split_passages(text, limit=limit)
    assert squash("".join(passages)) == squash(text)
    for p in passages:
        assert p.strip()
        rest = p.split("\n")
        while rest and HEADING_LINE.match(rest[0]):  # headings may come on top of the limit
            rest.pop(0)
        assert len("\n".join(rest).strip("\n")) <= limit


# -- loading -----------------------------------------------------------------------------------

def test_load_the_bundled_corpus():
    passages = load_corpus(CORPUS)
    files = sorted(p.name for p in CORPUS.glob("*.md"))
    assert [p.index for p in passages] == list(range(len(passages)))
    sources = [p.source for p in passages]
    assert sources == sorted(sources) and sorted(set(sources)) == files
    assert all(len(p.text) <= PASSAGE_CHARS for p in passages)
    assert len(passages) > len(files)  # documents are cut into sections
    for name in files:  # nothing lost: every file's words, in order, across its passages
        own = [p.text for p in passages if p.source == name]
        assert squash("".join(own)) == squash((CORPUS / name).read_text(encoding="utf-8"))


def test_load_a_folder_recursively_skipping_hidden_and_other_files(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\nbeta text")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("\ufeffalpha text")  # a BOM is not text
    (tmp_path / "c.pdf").write_bytes(b"%PDF-1.4 \xff\xfe")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("hidden")
    (tmp_path / "empty.md").write_text("\n\n")
    passages = load_corpus(tmp_path)
    assert passages == [Passage("# B\n\nbeta text", "b.md", 0), Passage("alpha text", "sub/a.txt", 1)]


def test_load_one_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("one\n\ntwo")
    assert load_corpus(str(f)) == [Passage("one\n\ntwo", "notes.txt", 0)]


def test_missing_corpus(tmp_path):
    with pytest.raises(DataError, match=r"nope: the corpus does not exist") as info:
        load_corpus(tmp_path / "nope")
    assert "training examples" in info.value.hint
    assert info.value.exit_code == 2


def test_folder_without_text_files(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match="no .md or .txt files"):
        load_corpus(tmp_path)


def test_corpus_of_empty_files(tmp_path):
    (tmp_path / "a.md").write_text("   \n")
    with pytest.raises(DataError, match="has no text"):
        load_corpus(tmp_path)


def test_undecodable_file_is_named_with_its_line(tmp_path):
    (tmp_path / "good.md").write_text("fine")
    (tmp_path / "bad.md").write_bytes(b"line one\nline two \xff\xfe oops\n")
    with pytest.raises(DataError) as info:
        load_corpus(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'bad.md'}:2: the corpus file is not UTF-8")
    assert info.value.line == 2
    assert "UTF-8" in info.value.hint


# -- retrieval: against reference computations ---------------------------------------------

DOCS = [
    "The cat sat on the mat.",
    "Dogs and cats living together.",
    "A refund is paid to the original card within ten business days.",
    "Refund requests for duplicate charges are always accepted; the refund is in full.",
    "The mat was red.",
    "Nothing in common here at all.",
]
PASSAGES = [Passage(t, "docs.md", i) for i, t in enumerate(DOCS)]


def reference_bm25(query: str, texts: list[str], analyzer, k1=1.5, b=0.75) -> list[float]:
    """BM25 term by term, the textbook way, for checking the sparse implementation."""
    docs = [Counter(analyzer(t)) for t in texts]
    lengths = [sum(d.values()) for d in docs]
    avgdl = sum(lengths) / len(docs)
    scores = []
    for doc, dl in zip(docs, lengths):
        s = 0.0
        for term in analyzer(query):  # a repeated query term counts each time
            tf = doc.get(term, 0)
            if tf == 0:
                continue
            df = sum(1 for d in docs if term in d)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        scores.append(s)
    return scores


@pytest.mark.parametrize("query", ["refund duplicate charge", "the mat", "cat cat dogs",
                                   "Refund, refund!", "unrelated words only"])
def test_bm25_scores_match_the_textbook_formula(query):
    r = Retriever(PASSAGES, "bm25")
    expected = reference_bm25(query, DOCS, r._vectorizer.build_analyzer())
    hits = r.top_k(query, len(DOCS), fill=True)
    assert {h.passage.index: h.score for h in hits} == pytest.approx(dict(enumerate(expected)))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_tfidf_scores_are_cosines_of_sklearn_vectors():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(strip_accents="unicode")
    matrix = vec.fit_transform(DOCS).toarray()
    q = vec.transform(["refund for a duplicate charge"]).toarray()[0]
    cos = [float(row @ q / (math.sqrt(row @ row) * math.sqrt(q @ q))) for row in matrix]
    hits = Retriever(PASSAGES, "tfidf").top_k("refund for a duplicate charge", 6, fill=True)
    assert {h.passage.index: h.score for h in hits} == pytest.approx(dict(enumerate(cos)))
    assert hits[0].passage.index == 3


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_ranking_drops_non_matching_passages_unless_filled(method):
    r = Retriever(PASSAGES, method)
    hits = r.top_k("refund", 5)
    assert [h.passage.index for h in hits] == [2, 3] or [h.passage.index for h in hits] == [3, 2]
    assert all(h.score > 0 for h in hits)
    assert r.top_k("zebra", 3) == []
    filled = r.top_k("zebra", 3, fill=True)
    assert [(h.passage.index, h.score) for h in filled] == [(0, 0.0), (1, 0.0), (2, 0.0)]
    assert len(r.top_k("refund", 50, fill=True)) == len(DOCS)


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_equal_scores_keep_passage_order(method):
    passages = [Passage(t, "d.md", i) for i, t in
                enumerate(["alpha beta", "gamma delta", "alpha beta", "alpha beta", "epsilon"])]
    r = Retriever(passages, method)
    assert [h.passage.index for h in r.top_k("alpha", 3)] == [0, 2, 3]
    assert [h.passage.index for h in r.top_k("alpha", 2)] == [0, 2]
    assert [h.passage.index for h in r.top_k("alpha beta", 1)] == [0]


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_batch_equals_one_by_one_across_blocks(method, monkeypatch):
    train = load_examples(TRIAGE / "train.jsonl")
    queries = [user_text(e) for e in load_examples(TRIAGE / "eval.jsonl")]
    r = Retriever(load_corpus(CORPUS), method)
    batch = r.top_k_batch(queries, 4)
    monkeypatch.setattr(retrieval, "_BLOCK_ELEMENTS", 7 * len(r.passages))  # 7 queries a block
    assert r.top_k_batch(queries, 4) == batch
    assert [r.top_k(q, 4) for q in queries[:20]] == batch[:20]
    assert len(batch) == len(queries) == 120
    assert all(1 <= len(h) <= 4 for h in batch)
    rt = Retriever(passages_from_examples(train), method)
    assert rt.top_k_batch(queries[:10], 3) == [rt.top_k(q, 3) for q in queries[:10]]


def test_bad_arguments():
    with pytest.raises(UsageError, match="unknown retrieval method 'dense'"):
        Retriever(PASSAGES, "dense")
    assert Retriever(PASSAGES, "BM-25").method == "bm25"
    with pytest.raises(UsageError, match="at least 1"):
        Retriever(PASSAGES).top_k("x", 0)
    with pytest.raises(DataError, match="nothing to retrieve from"):
        Retriever([])
    with pytest.raises(DataError, match="no words to index"):
        Retriever([Passage("a ! ?", "x.md", 0)])


# -- the bundled task ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["tfidf", "bm25"])
@pytest.mark.parametrize("query,document", [
    ("I want a billing refund: we were charged twice for the same renewal.", "refund-policy.md"),
    ("billing refund", "refund-policy.md"),
    ("The seat count on our invoice is wrong: we are billed for deactivated users.",
     "billing-faq.md"),
    ("Please delete my personal data under GDPR.", "privacy-and-compliance.md"),
    ("The QuickBooks sync stopped working.", "integrations-known-issues.md"),
])
def test_the_right_document_comes_first_on_the_triage_corpus(method, query, document):
    hits = Retriever(load_corpus(CORPUS), method).top_k(query, 3)
    assert hits[0].passage.source == document


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_retrieval_over_training_examples_finds_same_category_neighbours(method):
    train = load_examples(TRIAGE / "train.jsonl")
    evals = load_examples(TRIAGE / "eval.jsonl")
    r = Retriever(passages_from_examples(train), method)
    hits = r.top_k_batch([user_text(e) for e in evals], 1)

    def category(example):
        return json.loads(split_example(example.messages)[1])["category"]

    agree = sum(category(train[h[0].passage.index]) == category(e) for e, h in zip(evals, hits))
    # seven categories: chance is about 1 in 7; the nearest ticket should mostly share it
    # (measured: 102/120 with TF-IDF, 100+ with BM25)
    assert agree / len(evals) >= 0.7


def test_passages_from_examples():
    examples = [
        Example(3, [{"role": "system", "content": "S"}, {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "answer"}]),
        Example(7, [{"role": "user", "content": [{"type": "text", "text": "parts"}]},
                    {"role": "assistant", "content": "B"}]),
        Example(9, [{"role": "user", "content": "no answer"}]),
    ]
    assert passages_from_examples(examples) == [
        Passage("Q\n\nanswer", "train:3", 0), Passage("parts\n\nB", "train:7", 1),
        Passage("no answer", "train:9", 2)]
    assert [p.text for p in passages_from_examples(examples, include_answer=False)] == [
        "Q", "parts", "no answer"]
    train = load_examples(TRIAGE / "train.jsonl")
    passages = passages_from_examples(train)
    assert len(passages) == 400 and passages[0].source == "train:1"
    assert passages[5].text.endswith(split_example(train[5].messages)[1])
