"""Seeded one-word-answer tasks for the schedule tests and measurements (no files, no network).

Two tasks, each a prompt that ends by naming the allowed answers and a
one-word label, the shape of the user report that started this: a review
and "Answer POSITIVE or NEGATIVE." → ``POSITIVE``. An untuned SmolLM2
echoes or discusses the text instead of answering, so "does the tuned model
answer with exactly one label?" is a sharp test of whether the default
schedule trains enough.

- ``sentiment``: product reviews, POSITIVE / NEGATIVE;
- ``topic``: news headlines, SPORTS / BUSINESS / SCIENCE.

:func:`examples` gives chat records for training; :func:`held_out` gives
items built from the same parts but never equal to a training prompt, to ask
the tuned model. Both are decided by the seed alone.
"""

from __future__ import annotations

import random

LABELS = {"sentiment": ("POSITIVE", "NEGATIVE"), "topic": ("SPORTS", "BUSINESS", "SCIENCE")}

_SUBJECTS = ["The blender", "This jacket", "The hotel room", "These headphones", "The delivery",
             "The customer service", "This novel", "The coffee maker", "The hiking boots",
             "The phone case", "The restaurant", "The app update", "This vacuum cleaner",
             "The mattress", "The desk lamp", "This backpack", "The rental car", "The keyboard"]
_GOOD = ["works perfectly", "exceeded my expectations", "was a real delight", "is worth every penny",
         "arrived early and works great", "feels sturdy and well made", "made my whole week",
         "is exactly what I needed", "was friendly and quick", "is comfortable all day"]
_BAD = ["broke after two days", "was a waste of money", "stopped working within a week",
        "arrived damaged", "feels flimsy and cheap", "was rude and unhelpful", "is far too noisy",
        "never arrived", "smells awful", "is uncomfortable after an hour"]
_GOOD_END = ["I would buy it again.", "Highly recommended.", "Five stars.", "Very happy overall."]
_BAD_END = ["I want a refund.", "Avoid it.", "One star.", "Very disappointed overall."]
_FILLER = ["", "I bought it last month. ", "My sister recommended it. ", "I used it on a trip. "]

_TEAMS = ["the Falcons", "the Rovers", "City", "the Tigers", "United", "the Sharks", "the Eagles",
          "the Wolves"]
_SPORTS = ["{a} beat {b} {x}-{y} in the cup final", "{a} sign a new striker before the derby",
           "Marathon record falls as {p} wins in the rain", "{a} coach sacked after {x} straight losses",
           "{p} reaches the tennis semi-final in straight sets",
           "{a} clinch the league title with a late goal against {b}"]
_COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Foods", "Stark Motors", "Wayne Retail",
              "Hooli", "Vandelay Imports"]
_BUSINESS = ["{c} shares jump {x}% after quarterly earnings", "{c} to buy {d} for ${x} billion",
             "{c} cuts {x}00 jobs as sales slow", "{c} chief executive steps down",
             "Central bank holds interest rates as {c} warns on costs",
             "{c} opens {x} new stores despite weak retail demand"]
_PEOPLE = ["Ana Silva", "Tom Berg", "Li Wei", "Sara Okafor", "Marco Rossi", "Priya Nair"]
_THINGS = ["a new species of frog", "water ice", "an ancient virus", "a giant crater",
           "microplastics", "a new antibiotic"]
_PLACES = ["the Amazon", "a Martian crater", "Antarctic ice", "the deep ocean", "a cave in Spain",
           "a distant moon"]
_SCIENCE = ["Researchers discover {t} in {w}", "New telescope images reveal {t} near {w}",
            "Study finds {t} in {w} is older than thought", "Scientists sequence {t} found in {w}",
            "Probe detects {t} beneath {w}", "Physicists measure {t} with record precision"]


def _sentiment(rng: random.Random) -> tuple[str, str]:
    good = rng.random() < 0.5
    text = (f"{rng.choice(_FILLER)}{rng.choice(_SUBJECTS)} "
            f"{rng.choice(_GOOD if good else _BAD)}. {rng.choice(_GOOD_END if good else _BAD_END)}")
    return f"Review: {text}\nAnswer POSITIVE or NEGATIVE.", "POSITIVE" if good else "NEGATIVE"


def _topic(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(LABELS["topic"])
    a, b = rng.sample(_TEAMS, 2)
    c, d = rng.sample(_COMPANIES, 2)
    fields = {"a": a, "b": b, "c": c, "d": d, "p": rng.choice(_PEOPLE), "t": rng.choice(_THINGS),
              "w": rng.choice(_PLACES), "x": rng.randint(2, 9), "y": rng.randint(0, 1)}
    template = rng.choice({"SPORTS": _SPORTS, "BUSINESS": _BUSINESS, "SCIENCE": _SCIENCE}[label])
    headline = template.format(**fields)
    return f"Headline: {headline[0].upper()}{headline[1:]}\nAnswer SPORTS, BUSINESS or SCIENCE.", label


_MAKERS = {"sentiment": _sentiment, "topic": _topic}


def _items(task: str, n: int, seed: int, exclude: set[str]) -> list[tuple[str, str]]:
    rng = random.Random(f"{task}-{seed}")
    out: list[tuple[str, str]] = []
    seen = set(exclude)
    while len(out) < n:
        prompt, label = _MAKERS[task](rng)
        if prompt not in seen:
            seen.add(prompt)
            out.append((prompt, label))
    return out


def _record(prompt: str, label: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": label}]}


def examples(task: str, n: int = 48, seed: int = 0) -> list[dict]:
    """``n`` distinct training records of ``task`` as chat messages."""
    return [_record(p, lab) for p, lab in _items(task, n, seed, set())]


def held_out(task: str, n: int = 24, *, train_n: int = 48, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (prompt, label) pairs of ``task`` that are not among :func:`examples` (same seed and size)."""
    train = {p for p, _ in _items(task, train_n, seed, set())}
    return _items(task, n, seed + 1000, train)


def in_format(answer: str, task: str) -> bool:
    """Whether ``answer`` is exactly one of the task's labels (surrounding whitespace aside)."""
    return answer.strip() in LABELS[task]
