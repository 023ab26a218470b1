"""cxrlab.dicom.write_dx (valid DX/CR headers), fake_identity and to_model_input."""

import numpy as np
import pydicom
import pytest
import torch
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from cxrlab import dicom

# Type 1 and Type 2 attributes of the modules a DX For Presentation image needs (PS3.3 A.26)
REQUIRED = ["SOPClassUID", "SOPInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
            "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
            "AccessionNumber", "Modality", "SeriesInstanceUID", "SeriesNumber", "Manufacturer",
            "InstanceNumber", "PatientOrientation", "ContentDate", "ContentTime", "ImageType",
            "PresentationIntentType", "ImageLaterality", "PixelIntensityRelationship",
            "PixelIntensityRelationshipSign", "RescaleIntercept", "RescaleSlope", "RescaleType",
            "PresentationLUTShape", "LossyImageCompression", "BurnedInAnnotation", "ImagerPixelSpacing",
            "DetectorType", "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns",
            "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PixelData"]


@pytest.fixture
def image():
    return np.linspace(0, 1, 30 * 20, dtype=np.float32).reshape(30, 20)


def test_dx_header_is_complete_and_consistent(tmp_path, image):
    path = dicom.write_dx(tmp_path / "dx.dcm", image, identity=dicom.fake_identity(1), bits_stored=14)
    ds = pydicom.dcmread(path)
    missing = [k for k in REQUIRED if k not in ds]
    assert not missing, f"missing attributes: {missing}"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1" and ds.Modality == "DX"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 14, 13, 0)
    assert (ds.Rows, ds.Columns) == image.shape and ds.pixel_array.max() == 2 ** 14 - 1
    assert ds.PresentationLUTShape == "IDENTITY" and ds.PixelIntensityRelationshipSign == -1
    assert ds.PresentationIntentType == "FOR PRESENTATION"
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Chest"
    view = ds.ViewCodeSequence[0]
    assert (view.CodeValue, view.CodingSchemeDesignator) == ("272479007", "SCT")  # postero-anterior (CID 4010)
    for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
        assert uid.is_valid and len(uid) <= 64


def test_cr_monochrome1_header(tmp_path, image):
    ds = pydicom.dcmread(dicom.write_dx(tmp_path / "cr.dcm", image, modality="CR", photometric="MONOCHROME1",
                                        view="AP"))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1" and ds.Modality == "CR"
    assert ds.PresentationLUTShape == "INVERSE" and ds.PixelIntensityRelationshipSign == 1
    assert ds.ViewPosition == "AP" and ds.ViewCodeSequence[0].CodeMeaning == "antero-posterior"


def test_identity_goes_into_the_header_a_sequence_and_a_private_block(tmp_path, image):
    who = dicom.fake_identity(5, sex="F", age=71)
    ds = pydicom.dcmread(dicom.write_dx(tmp_path / "p.dcm", image, identity=who))
    assert str(ds.PatientName) == who["PatientName"] and ds.PatientID == who["PatientID"]
    assert ds.PatientSex == "F" and ds.PatientAge == "071Y"
    assert ds.RequestAttributesSequence[0].AccessionNumber == who["AccessionNumber"]
    assert ds.OtherPatientIDsSequence[0].PatientID == who["OtherPatientIDs"]
    block = ds.private_block(0x0029, dicom.PRIVATE_CREATOR)
    assert block[0x10].value == who["PatientID"]
    assert ds.StudyDate == who["StudyDate"] and ds.AcquisitionDateTime.startswith(who["StudyDate"])


def test_fake_identity_is_repeatable_and_plausible():
    a, b, c = dicom.fake_identity(3), dicom.fake_identity(3), dicom.fake_identity(4)
    assert a == b and a != c
    assert "^" in a["PatientName"] and a["PatientID"].startswith("MRN") and len(a["PatientBirthDate"]) == 8
    years = int(a["StudyDate"][:4]) - int(a["PatientBirthDate"][:4])
    assert abs(years - int(a["PatientAge"][:3])) <= 1
    with pytest.raises(ValueError, match="sex"):
        dicom.fake_identity(1, sex="female")
    with pytest.raises(ValueError, match="age"):
        dicom.fake_identity(1, age=130)


def test_jpeg2000_lossless_round_trip(tmp_path, image):
    with pytest.raises(ValueError, match="at least 32 x 32"):
        dicom.write_dx(tmp_path / "small.dcm", image, compress="jpeg2000")
    image = np.tile(image, (2, 2))
    path = dicom.write_dx(tmp_path / "j2k.dcm", image, compress="jpeg2000")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == JPEG2000Lossless
    np.testing.assert_array_equal(dicom.load(path), dicom.load(dicom.write_dx(tmp_path / "raw.dcm", image)))


def test_write_refuses_bad_input(tmp_path, image):
    path = dicom.write_dx(tmp_path / "x.dcm", image)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        dicom.write_dx(path, image)
    dicom.write_dx(path, image, overwrite=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dicom.write_dx(tmp_path / "no" / "x.dcm", image)
    cases = [({"image": np.zeros((2, 3, 3))}, "2-D"), ({"image": image * 2}, r"\[0, 1\]"),
             ({"modality": "CT"}, "DX' or 'CR"), ({"bits_stored": 20}, "8 to 16"),
             ({"image": np.array([[0, 5000]], dtype=np.uint16).repeat(2, 0)}, "do not fit"),
             ({"photometric": "RGB"}, "MONOCHROME"), ({"compress": "zip"}, "compress"),
             ({"window": (10, 0)}, "width > 0"), ({"rescale": (0, 1)}, "slope")]
    for change, message in cases:
        kwargs = {"image": image, **change}
        with pytest.raises(ValueError, match=message):
            dicom.write_dx(tmp_path / "y.dcm", kwargs.pop("image"), **kwargs)


# ----------------------------------------------------------------------------- model input


def test_to_model_input_shapes_channels_and_normalisation():
    gray = np.full((40, 40), 0.5, dtype=np.float32)
    x = dicom.to_model_input(gray, 16)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # pseudo-RGB: the same gray 3 times
    torch.testing.assert_close(x, torch.full((3, 16, 16), 0.5))
    z = dicom.to_model_input(gray, 16, mean=dicom.IMAGENET_MEAN, std=dicom.IMAGENET_STD)
    expected = [(0.5 - m) / s for m, s in zip(dicom.IMAGENET_MEAN, dicom.IMAGENET_STD)]
    torch.testing.assert_close(z.mean(dim=(1, 2)), torch.tensor(expected))
    batch = dicom.to_model_input(np.stack([gray, gray]), 8, channels=1)
    assert batch.shape == (2, 1, 8, 8)


def test_keep_aspect_pads_with_black_instead_of_stretching():
    tall = np.ones((40, 20), dtype=np.float32)
    x = dicom.to_model_input(tall, 40, channels=1)[0]
    assert x[:, :8].max() < 0.05 and x[:, -8:].max() < 0.05 and x[:, 12:28].min() > 0.95
    stretched = dicom.to_model_input(tall, 40, channels=1, keep_aspect=False)[0]
    assert stretched.min() > 0.99


def test_to_model_input_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dicom.to_model_input(np.full((8, 8), 300.0), 4)
    with pytest.raises(ValueError, match="size"):
        dicom.to_model_input(np.zeros((8, 8)), 0)
    with pytest.raises(ValueError, match="channels"):
        dicom.to_model_input(np.zeros((8, 8)), 4, channels=2)
    with pytest.raises(ValueError, match="both mean and std"):
        dicom.to_model_input(np.zeros((8, 8)), 4, mean=(0.5,))
    with pytest.raises(ValueError, match="shape"):
        dicom.to_model_input(np.zeros((1, 2, 8, 8)), 4)
    with pytest.raises(ValueError, match="NaN"):
        dicom.to_model_input(np.full((8, 8), np.nan), 4)


def test_signed_or_rescaled_pixels_are_written_as_cr_not_dx(tmp_path):
    stored = np.arange(-512, 512, dtype=np.int16).reshape(32, 32)
    ds = pydicom.dcmread(dicom.write_dx(tmp_path / "s.dcm", stored, bits_stored=12))
    assert ds.Modality == "CR" and ds.SOPClassUID == dicom.SOP_CLASSES["CR"]  # DX needs unsigned, rescale (1, 0)
    with pytest.raises(ValueError, match="C.8.11.3.1.3.*modality='CR'"):
        dicom.write_dx(tmp_path / "d.dcm", stored, bits_stored=12, modality="DX")
    plain = pydicom.dcmread(dicom.write_dx(tmp_path / "p.dcm", np.zeros((8, 8), np.float32)))
    assert plain.Modality == "DX" and plain.PositionerType == "" and plain.AcquisitionContextSequence == []
