"""``assess``: the lesson's questionnaire, the rules as data, and the decision.

Answers (from a person, a file, or measured evidence) become facts; the rules
in ``rules.yaml`` fire on them and give one recommendation with its trace.

Public names: :func:`assess` (answers + evidence → :class:`Assessment`),
:class:`Answers` and :func:`read_answers` (an answers file, validated).
"""

from __future__ import annotations

from ftdecide.assess._assessment import Assessment, assess
from ftdecide.assess._questionnaire import Answers, read_answers

__all__ = ["Answers", "Assessment", "assess", "read_answers"]
