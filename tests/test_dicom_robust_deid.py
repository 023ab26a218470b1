"""Issue 13, de-identification: the whole PS3.15 table, dates, character sets, one patient, overlays.

Inputs are built here with pydicom and written to tmp_path. About 3 s in all.
"""

import datetime as dt
import hashlib

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, JPEG2000Lossless

from cxrlab import dicom
from cxrlab.dicom import deid, profile_table


def _file(tmp_path, name="in.dcm", identity=None, **kwargs):
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    return dicom.write_dx(tmp_path / name, image, identity=identity, **kwargs)


# ----------------------------------------------------------------------------- item 6: the whole table


def test_the_four_attributes_of_the_example_are_removed_and_reported(tmp_path):
    extra = {"CurrentPatientLocation": "Ward 7 bed 3", "PerformedStationName": "XR-ROOM-9",
             "AdmittingDiagnosesDescription": "suspected TB, contact of case 4411",
             "PatientInstitutionResidence": "Larchmere Care Home"}
    path = _file(tmp_path, extra=extra)
    report = dicom.deidentify(path, tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    for keyword in extra:
        assert keyword not in after and keyword in report["removed"]
    assert dicom.find_values(tmp_path / "out.dcm", list(extra.values())) == []


def test_the_table_equals_its_source_row_by_row():
    pytest.importorskip("dicomanonymizer")
    single, repeating = profile_table.from_dicom_anonymizer()
    differ = {f"{t:08X}": (profile_table.BASIC_PROFILE.get(t), single.get(t))
              for t in set(single) | set(profile_table.BASIC_PROFILE)
              if profile_table.BASIC_PROFILE.get(t) != single.get(t)}
    assert differ == {}
    assert repeating == profile_table.REPEATING
    assert len(profile_table.BASIC_PROFILE) == 652


_SAMPLE = {"PN": "Doe^Secret", "LO": "SECRET VALUE", "SH": "SECRETSH", "CS": "SECRETCS", "LT": "SECRET TEXT",
           "ST": "SECRET TEXT", "UT": "SECRET TEXT", "UC": "SECRET TEXT", "AE": "SECRETAE", "UI": "1.2.3.4.5.6789",
           "IS": "12345", "DS": "12.5", "US": 4321, "SS": -4321, "UL": 654321, "FL": 1.5, "FD": 2.5,
           "OB": b"SECRETBYTES!", "OW": b"SECRETBYTES!", "UN": b"SECRETBYTES!", "AS": "045Y", "UR": "http://x.org/secret"}


def test_every_row_of_the_table_is_applied():
    ds = Dataset()
    planted = {}
    for tag, action in profile_table.BASIC_PROFILE.items():
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        keyword = keyword_for_tag(tag)
        if vr not in _SAMPLE or keyword in deid.RETAINED | deid.PSEUDONYM or tag >> 16 == 0x0002 \
                or tag in (0x00080018, 0x00080016, 0x00200013):
            continue
        ds.add_new(tag, vr, _SAMPLE[vr])
        planted[tag] = (vr, action)
    sequences = {}
    for tag, action in profile_table.BASIC_PROFILE.items():
        try:
            is_sequence = dictionary_VR(tag) == "SQ"
        except KeyError:
            continue
        if is_sequence:
            item = Dataset()
            item.InstitutionName = "SECRET HOSPITAL"  # X/Z/D: removed wherever it is
            ds.add_new(tag, "SQ", Sequence([item]))
            sequences[tag] = action
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out, report = deid.deidentify_dataset(ds, dicom.DeidSession(b"0123456789abcdef0123"))
    assert len(planted) > 350 and len(sequences) > 60
    for tag, action in sequences.items():
        if action in ("X/Z", "X/Z/D"):
            assert tag in out and len(out[tag].value) == 0, keyword_for_tag(tag)
        elif action.startswith("X") and action != "X/Z/U*":
            assert tag not in out, keyword_for_tag(tag)
        elif action in ("Z", "Z/D"):
            assert tag in out and len(out[tag].value) == 0, keyword_for_tag(tag)
        else:  # D, U, X/Z/U*: kept, cleaned item by item
            assert "InstitutionName" not in out[tag].value[0], keyword_for_tag(tag)
    wrong = {}
    for tag, (vr, action) in planted.items():
        if action.startswith("X") and action != "X/Z/U*":
            ok = tag not in out
        elif action in ("Z", "Z/D"):
            ok = tag in out and out[tag].value in (None, "", b"")
        elif action in ("U", "X/Z/U*"):
            ok = tag in out and str(out[tag].value).startswith("2.25.")
        else:  # D
            ok = tag in out and out[tag].value != _SAMPLE[vr] or (vr == "UI" and str(out[tag].value).startswith("2.25."))
        if not ok:
            wrong[keyword_for_tag(tag)] = (action, out[tag].value if tag in out else "<removed>")
    assert wrong == {}
    assert report["table"].startswith("PS3.15 Table E.1-1, 652 attributes")


# ----------------------------------------------------------------------------- item 7: temporal values


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # the malformed dates are the point
def test_every_temporal_value_at_any_depth_follows_the_modified_dates_rule(tmp_path):
    inner = Dataset()
    inner.ScheduledProcedureStepStartDate = "20210304"
    inner.ScheduledProcedureStepStartTime = "231500"
    inner.ObservationDateTime = "20210304231500.25+0100"
    middle = Dataset()
    middle.ScheduledProcedureStepSequence = Sequence([inner])
    middle.StudyArrivalDate = "20210303"
    top = Dataset()
    top.ReferencedStudySequence = Sequence()
    top.ContentSequence = Sequence([middle])
    extra = {"ProcedureCodeSequence": Sequence([top]), "PatientBirthTime": "031500",
             "AdmittingDate": ["20210301", "20210302"], "CalibrationDate": "2021.02.01",
             "DateOfLastCalibration": "garbage", "InstanceCreationDate": "2021",
             "AcquisitionDateTime": "2021"}
    session = dicom.DeidSession(b"0123456789abcdef0123", date_shift_days=-400)
    path = _file(tmp_path, extra=extra)
    report = dicom.deidentify(path, tmp_path / "out.dcm", session)
    after = pydicom.dcmread(tmp_path / "out.dcm")
    def back(day):  # the right value: 400 days earlier
        return (dt.date.fromisoformat(day) - dt.timedelta(days=400)).strftime("%Y%m%d")

    deep = after.ProcedureCodeSequence[0].ContentSequence[0]
    assert deep.StudyArrivalDate == back("2021-03-03") == "20200128"
    step = deep.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepStartDate == back("2021-03-04")
    assert step.ScheduledProcedureStepStartTime == "231500"  # a whole-day shift keeps the time of day
    assert step.ObservationDateTime == back("2021-03-04") + "231500.25+0100"
    assert list(after.AdmittingDate) == [back("2021-03-01"), back("2021-03-02")]
    assert after.CalibrationDate == back("2021-02-01")  # ACR-NEMA 2021.02.01 read and shifted
    assert after.AcquisitionDateTime == "2020"  # a year-only DT moves by whole years
    for removed in ("PatientBirthTime", "DateOfLastCalibration", "InstanceCreationDate"):  # a DA needs 8 digits
        assert removed not in after and removed in report["removed"]
    assert report["date_shift_days"] == -400 and "ProcedureCodeSequence[0].ContentSequence[0].StudyArrivalDate" \
        in report["dates_shifted"]


# ----------------------------------------------------------------------------- item 8: character sets, deflate


def _latin1_file(tmp_path):
    ds = pydicom.dcmread(_file(tmp_path, "latin.dcm"))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"
    ds.PatientID = "MRN-ÄÖ-4411"
    ds.CurrentPatientLocation = "Station Süd, Zimmer 12"
    ds.save_as(tmp_path / "latin.dcm", enforce_file_format=True)
    raw = (tmp_path / "latin.dcm").read_bytes()
    assert "Müller".encode("latin-1") in raw and "Müller".encode("utf-8") not in raw
    return tmp_path / "latin.dcm"


def test_find_values_in_a_latin1_file_and_its_deidentified_copy(tmp_path):
    path = _latin1_file(tmp_path)
    values = ["Müller^Jürgen", "MRN-ÄÖ-4411", "Station Süd"]
    assert dicom.find_values(path, values) == values  # all 3 (today: 1)
    ds = pydicom.dcmread(path)
    ds.StationName = "Müller"  # plant the surname where the profile removes it, and check find_values sees it
    ds.save_as(tmp_path / "planted.dcm", enforce_file_format=True)
    assert dicom.find_values(tmp_path / "planted.dcm", ["Müller"]) == ["Müller"]
    dicom.deidentify(path, tmp_path / "out.dcm")
    assert dicom.find_values(tmp_path / "out.dcm", values + ["Müller", "Jürgen"]) == []


def test_find_values_in_a_deflated_file(tmp_path):
    who = dicom.fake_identity(3)
    ds = pydicom.dcmread(_file(tmp_path, "plain.dcm", identity=who))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    assert who["PatientID"].encode() not in (tmp_path / "deflated.dcm").read_bytes()  # compressed away
    assert dicom.find_values(tmp_path / "deflated.dcm", [who["PatientID"], who["PatientName"]]) == \
        [who["PatientID"], who["PatientName"]]
    dicom.deidentify(tmp_path / "deflated.dcm", tmp_path / "out.dcm")
    assert pydicom.dcmread(tmp_path / "out.dcm").file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert dicom.find_values(tmp_path / "out.dcm", [who["PatientID"], who["PatientName"]]) == []


# ----------------------------------------------------------------------------- item 9: one patient


def test_one_patient_one_pseudonym_and_one_shift_whatever_the_spelling(tmp_path):
    first = {"PatientName": "Okafor^Grace", "PatientID": "", "PatientBirthDate": "19700512", "StudyDate": "20220110"}
    later = {"PatientName": "OKAFOR^GRACE^", "PatientID": "", "PatientBirthDate": "19700512", "StudyDate": "20230112"}
    a = _file(tmp_path, "a.dcm", identity=first)
    b = _file(tmp_path, "b.dcm", identity=later)
    session = dicom.DeidSession()
    ra = dicom.deidentify(a, tmp_path / "a_out.dcm", session)
    rb = dicom.deidentify(b, tmp_path / "b_out.dcm", session)
    assert ra["patient_pseudonym"] == rb["patient_pseudonym"]
    assert ra["date_shift_days"] == rb["date_shift_days"]
    da, db = (pydicom.dcmread(tmp_path / n).StudyDate for n in ("a_out.dcm", "b_out.dcm"))
    assert db > da  # the later study stays later ...
    days = (dt.datetime.strptime(db, "%Y%m%d") - dt.datetime.strptime(da, "%Y%m%d")).days
    assert days == 367  # ... by the same interval
    assert any("PatientID is empty" in w for w in ra["warnings"])
    assert dicom.deid.patient_key_text(" okafor ^ grace ^^") == "OKAFOR^GRACE"


# ----------------------------------------------------------------------------- held back: overlay bits


def _overlay_file(tmp_path):
    image = np.random.default_rng(4).integers(0, 4096, size=(64, 64)).astype(np.uint16)
    path = dicom.write_dx(tmp_path / "plain.dcm", image, bits_stored=12, modality="CR")
    ds = pydicom.dcmread(path)
    burned = image.copy()
    burned[40:50, 5:45] |= 1 << 15  # text of an embedded overlay plane in bit 15 (PS3.3 C.9.2, retired)
    ds.PixelData = burned.astype("<u2").tobytes()
    ds.add_new(0x60000010, "US", 64)        # Overlay Rows
    ds.add_new(0x60000011, "US", 64)        # Overlay Columns
    ds.add_new(0x60000040, "CS", "G")       # Overlay Type
    ds.add_new(0x60000100, "US", 1)         # Overlay Bits Allocated
    ds.add_new(0x60000102, "US", 15)        # Overlay Bit Position
    ds.add_new(0x60000022, "LO", "Okafor G, MRN 4411")  # Overlay Description
    ds.save_as(tmp_path / "overlay.dcm", enforce_file_format=True)
    return image, burned, tmp_path / "overlay.dcm"


def test_overlay_bits_above_high_bit_are_cleared_in_the_copy(tmp_path):
    image, burned, path = _overlay_file(tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    report = dicom.deidentify(path, tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    written = np.frombuffer(after.PixelData, dtype="<u2").reshape(64, 64)
    np.testing.assert_array_equal(written, image)  # bit 15 gone from the written pixel data
    assert report["overlay_bits_cleared"] == 400 and not report["pixel_data_unchanged"]
    assert not any(e.tag.group & 0xFF00 == 0x6000 for e in after)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # the source is untouched


def test_overlay_bits_in_a_jpeg2000_codestream_are_cleared_in_the_copy(tmp_path):
    image, burned, path = _overlay_file(tmp_path)
    ds = pydicom.dcmread(path)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.compress(JPEG2000Lossless, burned, encoding_plugin="pylibjpeg")
    ds.BitsStored, ds.HighBit = 12, 11
    ds.save_as(tmp_path / "j2k.dcm")
    report = dicom.deidentify(tmp_path / "j2k.dcm", tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    assert report["overlay_bits_cleared"] == 400
    np.testing.assert_array_equal(after.pixel_array, image)


def test_signed_pixels_keep_their_sign_when_high_bits_are_cleared(tmp_path):
    stored = np.array([[-2048, -1, 0, 2047]] * 8, dtype=np.int16)
    path = dicom.write_dx(tmp_path / "s.dcm", stored, bits_stored=12, window=None)
    ds = pydicom.dcmread(path)
    raw = (stored.view(np.uint16) & 0x0FFF) | 0x4000  # not sign-extended, and a bit 14 set
    ds.PixelData = raw.astype("<u2").tobytes()
    ds.save_as(tmp_path / "garbage.dcm", enforce_file_format=True)
    dicom.deidentify(tmp_path / "garbage.dcm", tmp_path / "out.dcm")
    written = np.frombuffer(pydicom.dcmread(tmp_path / "out.dcm").PixelData, dtype="<i2").reshape(stored.shape)
    np.testing.assert_array_equal(written, stored)


@pytest.mark.parametrize("syntax", [pydicom.uid.ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian])
def test_every_encoding_round_trips_with_the_declared_method(tmp_path, syntax):
    who = dicom.fake_identity(8)
    ds = pydicom.dcmread(_file(tmp_path, "plain.dcm", identity=who))
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(tmp_path / "src.dcm", enforce_file_format=True, implicit_vr=syntax == pydicom.uid.ImplicitVRLittleEndian,
               little_endian=syntax != pydicom.uid.ExplicitVRBigEndian)
    dicom.deidentify(tmp_path / "src.dcm", tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    assert after.file_meta.TransferSyntaxUID == syntax
    assert [c.CodeValue for c in after.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    assert after.PatientIdentityRemoved == "YES" and after.PatientAge == who["PatientAge"]
    np.testing.assert_array_equal(dicom.load(tmp_path / "out.dcm"), dicom.load(tmp_path / "plain.dcm"))
    assert dicom.find_values(tmp_path / "out.dcm", [who["PatientName"], who["PatientID"]]) == []


def test_a_big_endian_file_round_trips_with_the_declared_method(tmp_path):
    from pydicom.data import get_testdata_file

    src = get_testdata_file("MR_small_bigendian.dcm")
    dicom.deidentify(src, tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian
    assert [c.CodeValue for c in after.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    np.testing.assert_array_equal(dicom.load(tmp_path / "out.dcm"), dicom.load(src))
