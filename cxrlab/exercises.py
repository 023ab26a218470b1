"""Self-checks for exercises: say right or wrong without revealing the answer.

Answers are stored as SHA-256 digests of ``"<exercise id>:<normalised answer>"``, so
reading this file does not give them away. Each chapter's hidden solution calls
``check(<id>, <answer>)`` and a test runs those calls, so checks and solutions cannot drift.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

#: exercise id -> digest of the normalised right answer
ANSWERS: dict[str, str] = {
    "ch01.1": "294d35618ea9240405ccddff361ff2226cd8b58eb3b174a185a11452b711f6d9",
    "ch01.2": "83c930a2e0f8ca07ed015775ca729ebfcd66aab53abe81587f9c9e4ddd3e1680",
    "ch01.3": "91d29fea3b31041a7e324828f5f2373aae7c8e737232fe9a13fec2433dd006ef",
    "ch01.4": "4505ad3d56dc904e10e96c6a39dc3f3d168df4ba1151f3774c24c1706cdb62bd",
    "ch02.1": "8f97433b8d7d772277fda03acac46e50bcc0d7f5c2c0ffe3b38de808e32713ba",
    "ch02.2": "4cacf31a206220cbb2679cc4ce24df98d38883d657266fe390ecc1ae87efb8f3",
    "ch02.3a": "7e0c98b9065eb20a878ad9eaf03af5f0daf43ec1d906f1bef916120542d46e7d",
    "ch02.3b": "3e707b5a061262ee44f2e02d32ded281b02270bc0f6ffd92c9410db514ede9e6",
    "ch02.4": "a9887bba2264516b587af750c84d5d7e542dc3b1da5cf2d0fd4444c651eff35b",
    "ch03.1a": "f16c44942862c2bd98d787c505e0acebfc6f21d910b85fc3e1fac355d992aa60",
    "ch03.1b": "694f787bb28cfb4bb2f6d2f9ac8750384acf0e996a5f6bab722063bf4821cff8",
    "ch03.2": "d7fae12cb2e85add2e7079434608952be0ef63480136586dadde9a9ef5993680",
    "ch03.3": "4cf32c0f4e3c3b4c3d9b2f1c088d001e9ea09447c1e0a84fedbb9a2260935c09",
    "ch04.1a": "db9119bebc25511a3d91199a8c37972ccfe97ee07e3b81a414eef11ca89bccb9",
    "ch04.1b": "0d2f4676bfd778835901c698dc35971572fbee8156aa8cf29b51c15e4b620a39",
    "ch04.3": "7a1f384d8e4b174c005117342233d4e73d14de434416ce1a22458d29f86f410a",
    "ch05.1": "6af44b439453c2b32a33870690d47705f6965db0c279c393d4f8182d58e789c3",
    "ch05.2a": "3afe2c5cd9be5e4b0a062d5a4501fb11e53c69152ffc3450768786617ad24c17",
    "ch05.2b": "6174ba43026ead6845ceb14b35716c57c036f6b9edb7e927617944424148b6e5",
    "ch06.1a": "912e90a11b57ce0a7dceb47f38013e1befd7c533691d510053353c9d58232e16",
    "ch06.1b": "62f5141e55f3202630c6033240b928a7ffcd21ca417c2e6e306d0d1f5ab7d5f1",
    "ch06.2": "fd82d4b6e899ee503166794e28d3be995614cec274e18e459df64f89850e7a80",
    "ch06.3": "0ab9711cf557941f2eafc6baa24c255b2211682ec6c23ea4ef1d41a9ad17ac79",
    "ch07.1a": "acf98ac8659c67d558a95a0c4d89b7ed6e2e269b9e348f0ae29315a9eb37a5d3",
    "ch07.1b": "ffdf8924041a33fd5917150a977d4308d4d0928e8e315a381bcf93ff6abedd55",
    "ch07.2": "1a00790669c24e6cedc9e8c21e8897090ae21f46b6d2ac0d5911146632e796eb",
    "ch07.3": "e6ca359a98694c9e223e5a577df5f329159d64266288deae7e2afc6adcd891c6",
    "ch07.4": "e79d13160f8f91af8504ef7ec8faae354f0fc547e3d313864102a8b825624803",
    "ch07.5": "76c369854024bf5611b33a74fca2232acf71053f55dbf306722078c3ae7094d2",
    "ch07.6": "6fca98ae90091fa4828249506fb5059724aff28de266342cf3c42d4ac15d772b",
    "ch07.7": "9c8a0ac097b3550446233629bbed97e03fc7f428e669b31a9fcc86ff58539063",
    "ch08.1": "f3e5772da0eda4db6a991721d1a8200a35338c86927fdd913ecaccf2cf4cb277",
    "ch08.3": "81306a514d161ab217a4e9da4ec69704b3df3d7f88ec60f42c8ee1467026de04",
    "ch09.1a": "7b01d84e5a969613d02430d1636aae397ed011f43074763526a14be30ceb81b7",
    "ch09.1b": "dcccde0ef86dd58ab9fc5fe483789f1bbabddfba1ebcdd9377e8ab787070e737",
    "ch09.2": "f49330f296940409fcef8a8742cf24c0379ebc68e04c7dd77696e13f09ac80ae",
    "ch09.3a": "24909c5fb4f15a59206d1735438000619724ef3146134042a4a0a5d8f3b69647",
    "ch09.3b": "ce34d88fc1d61356e5d8a89fb82cf4850f4b19029de9a7c6b6bfe3bd4f630ddc",
    "ch10.1a": "773082101766dbf967996880a525497afd42e620fcef7564fab36fa57c09425e",
    "ch10.1b": "d8d8d7235244aa8254119c33d8f3785529fc37a89bf5c758708f73e558c34635",
    "ch10.2": "8cde1570a0e9eb47c08d04c3d0cf4c080e22e2710ba44341e6677e77bc875732",
    "ch10.3": "088f69584a7e870617a8559df6f53866920b061420d65876f47b561c8724a313",
    "ch10.4": "97e5ec793e3f51ba10cb7798b1d7dcebd279cab45a064bd87c4da6cb0dc01286",
}


#: floats are compared after rounding to this many decimals
DECIMALS = 6


def normalise(answer: Any) -> str:
    """Canonical text of an answer: ints and shapes exactly, floats rounded, strings lower-cased and trimmed.

    Accepted: int, float, a sequence of ints (a shape), a string, a sequence of strings.
    Floats are rounded to ``DECIMALS`` decimals, so that rounding error in a computed answer
    does not matter (``14999.499999999998`` == ``14999.5``); a float that rounds to a whole
    number counts as an int (``6.0`` == ``5.9999999`` == ``6``).
    """
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    if isinstance(answer, bool):
        raise TypeError("give a number, a shape or a word, not True/False")
    if isinstance(answer, float):
        if not math.isfinite(answer):
            raise ValueError(f"give a finite number, not {answer}")
        text = f"{answer:.{DECIMALS}f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(answer, int):
        return str(answer)
    if isinstance(answer, str):
        return " ".join(answer.strip().lower().split())
    if isinstance(answer, (tuple, list)):
        return "(" + ", ".join(normalise(a) for a in answer) + ")"
    raise TypeError(f"cannot check an answer of type {type(answer).__name__}; "
                    "give an int, a float, a shape (tuple of ints) or a string")


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
