"""Write the small summary of the NIH ChestX-ray14 table that the phantom generator ships with.

    python -m data_scripts.nih_statistics            # regenerate cxrlab/nih_statistics.json
    python -m data_scripts.nih_statistics --check    # exit 1 when the shipped file is stale

The phantom's findings, their co-occurrence and the patients' age, sex and view are drawn
from the real table's joint distribution (``cxrlab.phantom``). The table itself (112,120
rows, fetched by ``data_scripts/nih_table.py`` from the torchxrayvision wheel) may be absent
on a user's machine, so the counts the generator needs are summarised here, once, into a
few kilobytes of JSON inside the package: the same phantoms on every machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cxrlab.data.nih_table import AGE_LABELS, FINDINGS, load_nih_table
from cxrlab.phantom import NIH_MAPPING, STATISTICS_PATH


def summarise(table) -> dict:
    """The summary of ``load_nih_table()``'s table the phantom draws from (a JSON-able dict).

    Keys: ``images``, ``patients``; ``findings`` (the phantom's names, in order) and
    ``mapping`` (the NIH labels each one merges); ``joint``: rows ``[pattern, age_group, sex,
    view, images]`` where bit k of ``pattern`` is finding k, ``age_group`` an index into
    ``age_groups``, ``sex`` 0 F / 1 M, ``view`` 0 PA / 1 AP; ``nih_prevalence``: fraction of
    images with each of NIH's 14 labels; ``images_per_patient``: ``{k: number of patients
    with k images}``; ``age_years``: per age group, the ages seen (min, max).
    """
    findings = list(NIH_MAPPING)
    bits = np.zeros(len(table), dtype=np.int64)
    for k, name in enumerate(findings):
        present = np.zeros(len(table), dtype=bool)
        for label in NIH_MAPPING[name]:
            present |= table[label].to_numpy() > 0
        bits |= present.astype(np.int64) << k
    age = table["age_group"].cat.codes.to_numpy()
    sex = (table["sex"].to_numpy() == "M").astype(int)
    view = (table["view"].to_numpy() == "AP").astype(int)
    keys, counts = np.unique(np.stack([bits, age, sex, view], 1), axis=0, return_counts=True)
    joint = [[int(a), int(b), int(c), int(d), int(n)] for (a, b, c, d), n in zip(keys, counts)]
    per_patient = table.groupby("patient_id").size().value_counts().sort_index()
    ages = table.groupby("age_group", observed=True)["age"].agg(["min", "max"])
    return {
        "source": "NIH ChestX-ray14 Data_Entry_2017_v2020.csv (torchxrayvision 1.5.7 wheel)",
        "images": int(len(table)), "patients": int(table["patient_id"].nunique()),
        "findings": findings, "mapping": {k: list(v) for k, v in NIH_MAPPING.items()},
        "age_groups": list(AGE_LABELS), "sexes": ["F", "M"], "views": ["PA", "AP"],
        "joint": joint,
        "nih_prevalence": {f: round(float(table[f].mean()), 6) for f in FINDINGS},
        "images_per_patient": {str(int(k)): int(v) for k, v in per_patient.items()},
        "age_years": {str(g): [int(r["min"]), int(r["max"])] for g, r in ages.iterrows()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file, write nothing")
    parser.add_argument("--out", type=Path, default=STATISTICS_PATH, help="where to write (default: the package's)")
    args = parser.parse_args(argv)
    try:
        table = load_nih_table()
    except FileNotFoundError as error:
        print(f"{error}", file=sys.stderr)
        return 1
    summary = summarise(table)
    text = json.dumps(summary, indent=0, sort_keys=True) + "\n"
    if args.check:
        same = args.out.is_file() and json.loads(args.out.read_text()) == json.loads(text)
        print(f"{args.out}: {'up to date' if same else 'STALE: regenerate it'}")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text):,} bytes, {len(summary['joint'])} joint cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
