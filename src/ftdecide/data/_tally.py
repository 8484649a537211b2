"""What validating a file accumulates, record by record, in file order.

:func:`ftdecide.data._validate.validate` reads a file in this process or,
when it is a big JSONL file, on several (:mod:`ftdecide.data._parallel`).
Both ways feed one :class:`_Tally` the same facts (:func:`_counted` turns a
batch of valid records into them, counting their tokens), so their reports
cannot drift apart. It is a module of its own so that both ways can share it
without importing each other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Iterator

from ftdecide.data import _tokens as tokens
from ftdecide.data._checks import _Record


class _Tally:
    """What :func:`validate` accumulates, fed record by record in file order.

    Both ways of validating feed it the same facts (the parallel one from its
    workers' compact results), so their reports cannot drift apart. Only
    ``seen`` grows with the file: one 64-bit digest per distinct example.
    """

    def __init__(self, token_limit: int | None) -> None:
        self.token_limit = token_limit
        self.errors: dict[str, list[int]] = defaultdict(list)
        self.warnings: dict[str, list[int]] = defaultdict(list)
        self.seen: set[int] = set()
        self.hist_messages: Counter[int] = Counter()
        self.hist_tokens: Counter[int] = Counter()
        self.hist_assistant: Counter[int] = Counter()
        self.valid = 0
        self.missing_system = 0
        self.missing_user = 0
        self.total = 0
        self.capped = 0

    def error(self, line: int, categories: Iterable[str]) -> None:
        for category in categories:
            self.errors[category].append(line)

    def example(self, line: int, digest: int, n_messages: int, has_system: bool, has_user: bool,
                n_tokens: int, n_assistant: int) -> None:
        """One valid example; called in line order (the first copy is not a duplicate)."""
        self.valid += 1
        if digest in self.seen:
            self.warnings["duplicate_example"].append(line)
        else:
            self.seen.add(digest)
        if not has_system:
            self.missing_system += 1
            self.warnings["missing_system_message"].append(line)
        if not has_user:
            self.missing_user += 1
            self.warnings["missing_user_message"].append(line)
        self.hist_messages[n_messages] += 1
        self.hist_tokens[n_tokens] += 1
        self.hist_assistant[n_assistant] += 1
        self.total += n_tokens
        if self.token_limit is not None and n_tokens > self.token_limit:
            self.warnings["over_token_limit"].append(line)
            self.capped += self.token_limit
        else:
            self.capped += n_tokens


_Counted = tuple[int, int, int, bool, bool, int, int]


def _counted(batch: list[_Record], encoding: str) -> Iterator[_Counted]:
    """The facts :meth:`_Tally.example` takes, for each valid record of ``batch``:
    (line, digest, messages, has system, has user, tokens, assistant tokens)."""
    counts, assistant = tokens.submit_examples([r.messages for r in batch], encoding)()  # type: ignore[misc]
    for record, n_tokens, n_assistant in zip(batch, counts, assistant):
        assert record.messages is not None and record.digest is not None
        yield (record.line, record.digest, len(record.messages), record.has_system,
               record.has_user, n_tokens, n_assistant)
