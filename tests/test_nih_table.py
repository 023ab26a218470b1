"""NIH ChestX-ray14 table: loader on a tiny file, absent-file message, fetch verifies and is atomic."""

import gzip
import hashlib
import zipfile

import pandas as pd
import pytest

from cxrlab.data import nih_table
from data_scripts import nih_table as fetch_script

CSV = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
    "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n"
    "00000001_001.png,Pneumonia|Effusion,1,1,58,M,AP,2894,2729,0.143,0.143\n"
    "00000002_000.png,No Finding,0,2,12,F,PA,2500,2048,0.168,0.168\n"
    "00000003_000.png,Pneumonia,0,3,81,F,AP,2500,2048,0.168,0.168\n"
)


def write_table(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write(CSV)
    return path


def test_absent_table_says_how_to_fetch(empty_data_dir):
    assert not nih_table.nih_table_present()
    assert "ABSENT" in nih_table.nih_source()
    with pytest.raises(FileNotFoundError, match="data_scripts/nih_table.py"):
        nih_table.load_nih_table()


def test_loader_columns_and_prevalence(empty_data_dir):
    write_table(nih_table.nih_table_path())
    table = nih_table.load_nih_table()
    assert len(table) == 4 and table.patient_id.tolist() == [1, 1, 2, 3]
    assert table.Pneumonia.tolist() == [0, 1, 0, 1] and table.Effusion.sum() == 1
    assert table.age_group.astype(str).tolist() == ["40-59", "40-59", "0-17", "80+"]
    prev = nih_table.prevalence_by(table, "Pneumonia", "sex").set_index("sex")
    assert prev.loc["F", "prevalence"] == 0.5 and prev.loc["M", "patients"] == 1
    with pytest.raises(ValueError, match="unknown finding"):
        nih_table.prevalence_by(table, "Flu", "sex")


def test_fetch_rejects_wrong_checksum_and_writes_nothing(tmp_path):
    wheel = tmp_path / "torchxrayvision-0-py3-none-any.whl"
    member = write_table(tmp_path / "member.csv.gz")
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(member, fetch_script.MEMBER)
    dest = tmp_path / "out" / nih_table.FILENAME
    with pytest.raises(fetch_script.VerificationError, match="SHA-256"):
        fetch_script.fetch(dest, wheel=wheel)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_fetch_extracts_verified_member(tmp_path, monkeypatch):
    wheel = tmp_path / "torchxrayvision-0-py3-none-any.whl"
    member = write_table(tmp_path / "member.csv.gz")
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(member, fetch_script.MEMBER)
    monkeypatch.setattr(fetch_script, "SHA256", hashlib.sha256(member.read_bytes()).hexdigest())
    dest = fetch_script.fetch(tmp_path / "out" / nih_table.FILENAME, wheel=wheel)
    assert dest.read_bytes() == member.read_bytes()
    assert (dest.parent / "SOURCE.json").is_file()
    assert len(nih_table.load_nih_table(dest)) == 4
    assert isinstance(nih_table.load_nih_table(dest), pd.DataFrame)
