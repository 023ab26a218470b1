"""Self-checks for exercises: say right or wrong without revealing the answer.

Answers are stored as SHA-256 digests of ``"<exercise id>:<normalised answer>"``, so
reading this file does not give them away. Each chapter's hidden solution calls
``check(<id>, <answer>)`` and a test runs those calls, so checks and solutions cannot drift.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: exercise id -> digest of the normalised right answer
ANSWERS: dict[str, str] = {
    "ch01.1": "294d35618ea9240405ccddff361ff2226cd8b58eb3b174a185a11452b711f6d9",
    "ch01.2": "83c930a2e0f8ca07ed015775ca729ebfcd66aab53abe81587f9c9e4ddd3e1680",
    "ch01.3": "91d29fea3b31041a7e324828f5f2373aae7c8e737232fe9a13fec2433dd006ef",
    "ch02.1": "8f97433b8d7d772277fda03acac46e50bcc0d7f5c2c0ffe3b38de808e32713ba",
    "ch02.2": "4cacf31a206220cbb2679cc4ce24df98d38883d657266fe390ecc1ae87efb8f3",
}


def normalise(answer: Any) -> str:
    """Canonical text of an answer: ints and shapes exactly, strings lower-cased and trimmed.

    Accepted: int, a sequence of ints (a shape), a string, a sequence of strings. Floats
    that are whole numbers count as ints (``6.0`` == ``6``).
    """
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    if isinstance(answer, bool):
        raise TypeError("give a number, a shape or a word, not True/False")
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    if isinstance(answer, int):
        return str(answer)
    if isinstance(answer, str):
        return " ".join(answer.strip().lower().split())
    if isinstance(answer, (tuple, list)):
        return "(" + ", ".join(normalise(a) for a in answer) + ")"
    raise TypeError(f"cannot check an answer of type {type(answer).__name__}; "
                    "give an int, a shape (tuple of ints) or a string")


def digest(exercise: str, answer: Any) -> str:
    """The stored form of ``answer`` to ``exercise``."""
    return hashlib.sha256(f"{exercise}:{normalise(answer)}".encode()).hexdigest()


def check(exercise: str, answer: Any, *, quiet: bool = False) -> bool:
    """Print and return whether ``answer`` is right for ``exercise`` (e.g. ``"ch02.1"``)."""
    if exercise not in ANSWERS:
        raise KeyError(f"no check for exercise {exercise!r}; known: {', '.join(sorted(ANSWERS))}")
    right = digest(exercise, answer) == ANSWERS[exercise]
    if not quiet:
        print(f"Exercise {exercise}: " + ("correct." if right else "not yet -- try again."))
    return right
