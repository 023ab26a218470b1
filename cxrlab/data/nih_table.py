"""The real NIH ChestX-ray14 metadata table (no images): age, sex, view and findings.

112,120 frontal radiographs of 30,805 patients (Wang et al. 2017), as the table
``Data_Entry_2017_v2020.csv.gz`` that ships inside the ``torchxrayvision`` wheel. Fetch it
with ``python data_scripts/nih_table.py`` into ``$CXRLAB_DATA/nih14/``; this loader only
reads that file (no network) and says clearly when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .paths import dataset_dir, read_source_note

FILENAME = "Data_Entry_2017_v2020.csv.gz"
#: SHA-256 of the gzip file inside torchxrayvision 1.5.7's wheel.
SHA256 = "9d4de640ee4f760215d8be98376b20387ca52f9c6b4d1b727cb588fb82f40b80"
FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
    "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax",
)
AGE_BINS = (0, 18, 40, 60, 80, 200)
AGE_LABELS = ("0-17", "18-39", "40-59", "60-79", "80+")


def nih_table_path() -> Path:
    """Where the table is expected: ``$CXRLAB_DATA/nih14/Data_Entry_2017_v2020.csv.gz``."""
    return dataset_dir("nih14") / FILENAME


def nih_table_present() -> bool:
    """True when the fetched table is on disk (a file look-up, no checksum)."""
    return nih_table_path().is_file()


def nih_source() -> str:
    """Short text for the banner: where the NIH table comes from, or that it is absent."""
    if not nih_table_present():
        return "NIH ChestX-ray14 table ABSENT (run python data_scripts/nih_table.py)"
    return f"NIH ChestX-ray14 table ({read_source_note(nih_table_path().parent) or 'local file'})"


def load_nih_table(path: str | Path | None = None) -> pd.DataFrame:
    """Read the table; one row per image with tidy columns.

    Columns: ``image``, ``patient_id`` (int), ``follow_up`` (int), ``age`` (years, int),
    ``age_group`` (``AGE_LABELS``), ``sex`` ("M"/"F"), ``view`` ("PA"/"AP"), ``findings``
    (the original "A|B" text, "No Finding" when none) and one 0/1 column per finding in
    ``FINDINGS``. Raises FileNotFoundError saying how to fetch it when absent.
    """
    path = Path(path) if path is not None else nih_table_path()
    if not path.is_file():
        raise FileNotFoundError(f"NIH ChestX-ray14 table not found at {path}; fetch it with "
                                "`python data_scripts/nih_table.py` (needs the package index once)")
    raw = pd.read_csv(path)
    needed = {"Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
              "Patient Gender", "View Position"}
    if not needed <= set(raw.columns):
        raise ValueError(f"{path} is not the NIH Data_Entry table: columns {sorted(needed - set(raw.columns))} missing")
    table = pd.DataFrame({
        "image": raw["Image Index"], "patient_id": raw["Patient ID"].astype(int),
        "follow_up": raw["Follow-up #"].astype(int), "age": raw["Patient Age"].astype(int),
        "sex": raw["Patient Gender"], "view": raw["View Position"], "findings": raw["Finding Labels"],
    })
    table["age_group"] = pd.cut(table["age"], bins=list(AGE_BINS), labels=list(AGE_LABELS), right=False)
    dummies = table["findings"].str.get_dummies(sep="|")
    for finding in FINDINGS:
        table[finding] = (dummies[finding] if finding in dummies else 0)
        table[finding] = table[finding].astype(np.int8)
    return table


def prevalence_by(table: pd.DataFrame, finding: str, by: str | list[str]) -> pd.DataFrame:
    """Images, patients and prevalence (fraction, 0-1) of ``finding`` per value of ``by``."""
    if finding not in table.columns:
        raise ValueError(f"unknown finding {finding!r}; choose one of {FINDINGS}")
    groups = table.groupby(by, observed=True)
    out = pd.DataFrame({
        "images": groups.size(), "patients": groups["patient_id"].nunique(),
        "prevalence": groups[finding].mean(),
    })
    return out.reset_index()


__all__ = ["FILENAME", "SHA256", "FINDINGS", "AGE_LABELS", "nih_table_path", "nih_table_present",
           "nih_source", "load_nih_table", "prevalence_by"]
