"""``assess``: the lesson's questionnaire, the rules as data, and the decision.

Answers (from a person, a file, or measured evidence) become facts; the rules
in ``rules.yaml`` fire on them and give one recommendation with its trace.
"""
