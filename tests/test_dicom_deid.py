"""cxrlab.dicom.deidentify: no original PHI anywhere in the output bytes, source untouched."""

import datetime as dt
import hashlib
import json
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from cxrlab import dicom

# what the Retain Patient Characteristics option and the device description keep on purpose
RETAINED = {"PatientSex", "PatientAge", "Manufacturer", "ManufacturerModelName", "StudyTime"}
RG1_PHI = ["CompressedSamples^RG1", "CompressedSamples", "9RG1", "19400305", "26210",
           "Philips Medical Systems Hamburg", "THORAVISION", "Our Department", "92.00.003",
           "exam Number", "ward", "CLUNIE1", "20040826", "19950926",
           "1.3.6.1.4.1.5962.1.1.9.1.1.20040826185059.5457", "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457",
           "1.3.6.1.4.1.5962.1.3.9.1.20040826185059.5457", "1.3.6.1.4.1.5962.3"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read()).hexdigest()


def header_bytes(path) -> bytes:
    """The file's bytes without the pixel data value (pixels may hold any byte pattern by chance)."""
    raw = open(path, "rb").read()
    pixels = pydicom.dcmread(path).PixelData
    start = raw.find(pixels)
    assert start > 0
    return raw[:start] + raw[start + len(pixels):]


def phi_values(who: dict) -> list[str]:
    values = []
    for key, value in who.items():
        if key in RETAINED:
            continue
        values.append(str(value))
        if "^" in str(value):
            values += [part for part in str(value).split("^") if len(part) > 2]
    return values


@pytest.fixture
def phantom_file(tmp_path):
    who = dicom.fake_identity(11)
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    path = dicom.write_dx(tmp_path / "in.dcm", image, identity=who, compress="rle",
                          extra={"ReferencedImageSequence": _reference()})
    return path, who


def _reference() -> Sequence:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.999.1"
    return Sequence([item])


def test_no_phi_value_survives_anywhere_in_the_bytes(tmp_path, phantom_file):
    src, who = phantom_file
    original = sha256(src)
    uids = [str(pydicom.dcmread(src)[k].value) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
    present = [v for v in phi_values(who) + uids if v.encode() in header_bytes(src)]
    assert present == phi_values(who) + uids  # the test is meaningful: every value is in the input
    report = dicom.deidentify(src, tmp_path / "out.dcm")
    assert sha256(src) == original  # the source file is byte-identical
    out = header_bytes(tmp_path / "out.dcm")
    leaked = [v for v in phi_values(who) + uids + ["1.2.826.0.1.3680043.8.498.999.1"] if v.encode() in out]
    assert not leaked, f"PHI left in the output: {leaked}"
    assert report["pixel_data_unchanged"]
    assert not [v for v in phi_values(who) if v in json.dumps(report)]  # the report holds no PHI either


def test_what_the_output_keeps_and_declares(tmp_path, phantom_file):
    src, who = phantom_file
    report = dicom.deidentify(src, tmp_path / "out.dcm")
    before, after = pydicom.dcmread(src), pydicom.dcmread(tmp_path / "out.dcm")
    assert after.PatientIdentityRemoved == "YES"
    assert "Basic Application Confidentiality Profile" in after.DeidentificationMethod[0]
    assert [c.CodeValue for c in after.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    assert after.LongitudinalTemporalInformationModified == "MODIFIED"
    assert str(after.PatientName) == after.PatientID == report["patient_pseudonym"]
    assert after.StudyID == report["study_pseudonym"] and after.AccessionNumber == ""
    assert after.PatientBirthDate == "" and after.PatientSex == who["PatientSex"] and after.PatientAge == who["PatientAge"]
    assert not any(elem.tag.is_private for elem in after.iterall())
    assert "RequestAttributesSequence" not in after and "OtherPatientIDsSequence" not in after
    assert after.AnatomicRegionSequence[0].CodeMeaning == "Chest"  # coded anatomy is kept
    ref = after.ReferencedImageSequence[0]  # nested UIDs: instance replaced, class (standard) kept
    assert ref.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
    assert ref.ReferencedSOPInstanceUID.startswith("2.25.") and ref.ReferencedSOPInstanceUID.is_valid
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID  # still RLE
    assert after.PixelData == before.PixelData
    np.testing.assert_array_equal(dicom.load(tmp_path / "out.dcm"), dicom.load(src))
    # dates shifted by the reported number of days, times of day kept
    shift = dt.timedelta(days=report["date_shift_days"])
    assert report["date_shift_days"] < 0
    day = dt.datetime.strptime(before.StudyDate, "%Y%m%d") + shift
    assert after.StudyDate == day.strftime("%Y%m%d") and after.StudyTime == before.StudyTime
    assert after.AcquisitionDateTime == day.strftime("%Y%m%d") + before.AcquisitionDateTime[8:]
    for name in ("PatientAddress", "InstitutionName", "OperatorsName", "ImageComments", "DeviceSerialNumber"):
        assert name in report["removed"] and name not in after


def test_one_session_is_consistent_and_another_is_not(tmp_path):
    who = dicom.fake_identity(21)
    image = np.zeros((32, 32), dtype=np.float32)
    study = pydicom.uid.generate_uid()
    a = dicom.write_dx(tmp_path / "a.dcm", image, identity=who, study_uid=study, instance_number=1)
    later = dict(who, StudyDate="20240102", AccessionNumber="ACC000000001")
    b = dicom.write_dx(tmp_path / "b.dcm", image, identity=later, instance_number=2)
    session = dicom.DeidSession(b"0123456789abcdef-secret")
    (tmp_path / "out").mkdir()
    ra = dicom.deidentify(a, tmp_path / "out" / "a.dcm", session)
    rb = dicom.deidentify(b, tmp_path / "out" / "b.dcm", session)
    ra2 = dicom.deidentify(a, tmp_path / "out" / "a2.dcm", session)
    da, db, da2 = (pydicom.dcmread(tmp_path / "out" / n) for n in ("a.dcm", "b.dcm", "a2.dcm"))
    assert da.StudyInstanceUID == da2.StudyInstanceUID == session.uid(study)  # same input UID, same new UID
    assert da.StudyInstanceUID != db.StudyInstanceUID
    assert ra["patient_pseudonym"] == rb["patient_pseudonym"] == ra2["patient_pseudonym"]
    assert ra["date_shift_days"] == rb["date_shift_days"]  # one shift per patient: intervals survive
    def interval(x, y):
        return (dt.datetime.strptime(x, "%Y%m%d") - dt.datetime.strptime(y, "%Y%m%d")).days
    assert interval(db.StudyDate, da.StudyDate) == interval(later["StudyDate"], who["StudyDate"])
    other = dicom.deidentify(a, tmp_path / "out" / "a3.dcm", dicom.DeidSession())
    assert other["patient_pseudonym"] != ra["patient_pseudonym"]
    assert pydicom.dcmread(tmp_path / "out" / "a3.dcm").StudyInstanceUID != da.StudyInstanceUID


def test_real_radiograph_rg1(tmp_path):
    src = get_testdata_file("RG1_UNCR.dcm")
    original = sha256(src)
    assert all(v.encode() in header_bytes(src) for v in RG1_PHI)
    report = dicom.deidentify(src, tmp_path / "rg1.dcm")
    assert sha256(src) == original
    out = header_bytes(tmp_path / "rg1.dcm")
    assert not [v for v in RG1_PHI if v.encode() in out]
    after = pydicom.dcmread(tmp_path / "rg1.dcm")
    assert after.PatientAge == "064Y" and after.PatientSex == "F"  # age kept, computed before removing the birth date
    assert report["pixel_data_unchanged"] and after.PhotometricInterpretation == "MONOCHROME1"
    assert "DataSetTrailingPadding" in report["removed"]


def test_real_jpeg2000_radiograph_keeps_its_compressed_pixels(tmp_path):
    src = get_testdata_file("RG1_J2KR.dcm")
    report = dicom.deidentify(src, tmp_path / "j2k.dcm")
    before, after = pydicom.dcmread(src), pydicom.dcmread(tmp_path / "j2k.dcm")
    assert report["pixel_data_unchanged"] and after.PixelData == before.PixelData
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert "CompressedSamples".encode() not in header_bytes(tmp_path / "j2k.dcm")


def test_folder_names_outputs_by_new_uid(tmp_path, phantom_file):
    src, who = phantom_file
    reports = dicom.deidentify_folder(src.parent, tmp_path / "deid")
    assert len(reports) == 1 and reports[0]["destination"].endswith(".dcm")
    assert who["PatientID"] not in reports[0]["destination"]
    with pytest.raises(FileNotFoundError, match="no files matching"):
        dicom.deidentify_folder(tmp_path / "deid", tmp_path / "x", pattern="*.none")


def test_bad_input(tmp_path, phantom_file):
    src, _ = phantom_file
    with pytest.raises(ValueError, match="NEW file"):
        dicom.deidentify(src, src)
    copy = tmp_path / "copy.dcm"
    shutil.copy(src, copy)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        dicom.deidentify(src, copy)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(dicom.NotDicomError, match="notes.txt"):
        dicom.deidentify(text, tmp_path / "o.dcm")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dicom.deidentify(src, tmp_path / "missing" / "o.dcm")
    with pytest.raises(ValueError, match="at least 16"):
        dicom.DeidSession(b"short")
    with pytest.raises(ValueError, match="non-zero"):
        dicom.DeidSession(date_shift_days=0)


def test_burned_in_annotation_is_warned_about(tmp_path):
    path = dicom.write_dx(tmp_path / "b.dcm", np.zeros((8, 8), dtype=np.float32),
                          extra={"BurnedInAnnotation": "YES", "PatientAge": "095Y"})
    report = dicom.deidentify(path, tmp_path / "o.dcm")
    assert any("BurnedInAnnotation" in w for w in report["warnings"])
    assert pydicom.dcmread(tmp_path / "o.dcm").PatientAge == "090Y"  # ages over 89 are capped


def test_find_values_and_compare_headers(tmp_path, phantom_file):
    src, who = phantom_file
    dicom.deidentify(src, tmp_path / "out.dcm")
    assert dicom.find_values(src, [who["PatientID"], "no-such-value", "ab"]) == [who["PatientID"]]
    assert dicom.find_values(tmp_path / "out.dcm", phi_values(who)) == []
    table = dicom.compare_headers(src, tmp_path / "out.dcm").set_index("attribute")
    assert table.loc["PatientAddress", "change"] == "removed" and not isinstance(table.loc["PatientAddress", "after"], str)
    assert table.loc["StudyDate", "change"] == "shifted" and table.loc["AccessionNumber", "change"] == "emptied"
    assert table.loc["PatientID", "change"] == "replaced" and table.loc["PatientSex", "change"] == "kept"
    assert table.loc["PatientIdentityRemoved", "change"] == "added" and table.loc["PatientName", "vr"] == "PN"
    assert list(dicom.compare_headers(src, tmp_path / "out.dcm", ["Modality"]).attribute) == ["Modality"]


def test_unknown_attributes_and_overlays_are_removed(tmp_path):
    path = dicom.write_dx(tmp_path / "u.dcm", np.zeros((8, 8), dtype=np.float32))
    ds = pydicom.dcmread(path)
    ds.add_new(0x00189FF0, "UN", b"Dr Who, ward 9 ")          # a public tag no dictionary knows
    ds.add_new(0x60000022, "LO", "Okafor Grace")              # Overlay Description
    ds.add_new(0x00204000, "LT", "free text about the patient")
    ds.save_as(path, enforce_file_format=True)
    report = dicom.deidentify(path, tmp_path / "o.dcm")
    after = pydicom.dcmread(tmp_path / "o.dcm")
    assert 0x00189FF0 not in after and 0x60000022 not in after and "ImageComments" not in after
    assert dicom.find_values(tmp_path / "o.dcm", ["Dr Who", "Okafor Grace", "free text"]) == []
    assert "ImageComments" in report["removed"]
