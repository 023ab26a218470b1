"""Issue 13, DICOM reading: inputs modelled on the field's bug reports, each with its right value.

Every input is built here (pydicom, written to tmp_path); the codec tests use pydicom's own
test files. About 3 s in all.
"""

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_windowing
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import MPEG2MPML, JPEG2000Lossless, JPEGBaseline8Bit

from cxrlab import dicom


def _cr_12bit(tmp_path, name="plain.dcm", **kwargs):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, size=(64, 64)).astype(np.uint16)
    return image, dicom.write_dx(tmp_path / name, image, bits_stored=12, modality="CR", **kwargs)


def _raw(tag: int, vr: str, text: bytes) -> RawDataElement:
    return RawDataElement(Tag(tag), vr, len(text), text, 0, False, True)


# ----------------------------------------------------------------------------- item 1: Bits Stored


def test_jpeg2000_codestream_with_an_overlay_bit_equals_the_uncompressed_file(tmp_path):
    image, plain = _cr_12bit(tmp_path)
    ds = pydicom.dcmread(plain)
    burned = image.copy()
    burned[10:28, 10:26] |= 1 << 12  # an overlay plane in bit 12 on 18 x 16 = 288 pixels
    assert (burned > 4095).sum() == 288
    ds.BitsStored, ds.HighBit = 13, 12  # encode all 13 bits, then declare 12 as the file does
    ds.compress(JPEG2000Lossless, burned, encoding_plugin="pylibjpeg")
    ds.BitsStored, ds.HighBit = 12, 11
    ds.save_as(tmp_path / "j2k.dcm")
    assert pydicom.dcmread(tmp_path / "j2k.dcm").pixel_array.max() > 4095  # pydicom leaves the bit
    got = dicom.read_image(tmp_path / "j2k.dcm")
    assert got.stored.max() <= 4095
    np.testing.assert_array_equal(got.stored, image)
    np.testing.assert_array_equal(got.display, dicom.load(plain))


def test_signed_pixels_are_sign_extended_from_bits_stored(tmp_path):
    stored = np.array([[-2048, -1], [0, 2047]], dtype=np.int16)
    path = dicom.write_dx(tmp_path / "s.dcm", np.tile(stored, (8, 8)), bits_stored=12, window=None)
    ds = pydicom.dcmread(path)
    garbage = (ds.pixel_array.view(np.uint16) & 0x0FFF) | 0x5000  # zero-extended, bit 14 set
    ds.PixelData = garbage.astype("<u2").tobytes()
    got = dicom.read_image(ds)
    np.testing.assert_array_equal(got.stored[:2, :2], stored)


def test_normalise_bits_matches_the_definition():
    values = np.array([0x1FFF, 0x0800, 0x07FF, 0xF000], dtype=np.uint16)
    np.testing.assert_array_equal(dicom.read.normalise_bits(values, 12, 11, False), [0x0FFF, 0x0800, 0x07FF, 0])
    np.testing.assert_array_equal(dicom.read.normalise_bits(values.view(np.int16), 12, 11, True), [-1, -2048, 2047, 0])
    shifted = np.array([0xFFF0, 0x0010], dtype=np.uint16)  # retired layout: High Bit 15, Bits Stored 12
    np.testing.assert_array_equal(dicom.read.normalise_bits(shifted, 12, 15, False), [0x0FFF, 0x0001])


# ----------------------------------------------------------------------------- item 2: header values


def test_nan_window_is_skipped_and_the_output_is_finite(tmp_path):
    image, path = _cr_12bit(tmp_path, window=None, extra={"WindowCenter": "NaN", "WindowWidth": "NaN"})
    with pytest.warns(dicom.DicomWarning, match="not finite"):
        got = dicom.read_image(path)
    assert np.isfinite(got.display).all() and got.voi.startswith("min-max")
    assert "file window 1 of 1 (center nan, width nan, LINEAR) skipped: not finite" in got.notes
    np.testing.assert_allclose(got.display, dicom.min_max(image.astype(float)), atol=1e-6)


def test_nan_window_falls_back_to_the_next_window(tmp_path):
    image, path = _cr_12bit(tmp_path, window=None,
                            extra={"WindowCenter": ["NaN", "2048"], "WindowWidth": ["NaN", "1024"]})
    with pytest.warns(dicom.DicomWarning):
        got = dicom.read_image(path)
    assert got.voi == "file window 2 of 2: center 2048, width 1024 (LINEAR)"
    np.testing.assert_allclose(got.display, dicom.window_level(image.astype(float), 2048, 1024), atol=1e-6)


def test_window_that_does_not_parse_names_the_tag(tmp_path):
    _, path = _cr_12bit(tmp_path, window=(2048, 4096))
    ds = pydicom.dcmread(path)
    ds[0x00281051] = _raw(0x00281051, "DS", b"wide")
    with pytest.raises(dicom.InvalidHeaderError, match=r"Window Width \(0028,1051\) = 'wide' is not a number"):
        dicom.load(ds)


@pytest.mark.parametrize("slope", ["NaN", "0"])
def test_unusable_rescale_slope_names_the_tag(tmp_path, slope):
    _, path = _cr_12bit(tmp_path)
    ds = pydicom.dcmread(path)
    ds[0x00281053] = _raw(0x00281053, "DS", slope.encode().ljust(4))
    with pytest.raises(dicom.InvalidHeaderError, match=r"Rescale Slope \(0028,1053\)"):
        dicom.load(ds)


def test_lut_shorter_than_its_descriptor_names_the_tags(tmp_path):
    stored = np.arange(256, dtype=np.uint16).reshape(16, 16)
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 16])
    item.add_new(0x00283006, "US", list(range(100)))
    path = dicom.write_dx(tmp_path / "m.dcm", stored, bits_stored=8, window=None,
                          extra={"ModalityLUTSequence": Sequence([item])})
    with pytest.raises(dicom.InvalidHeaderError, match=r"LUT Data \(0028,3006\) holds 100 entries.*declares 256"):
        dicom.load(path)


# ----------------------------------------------------------------------------- item 3: padding


def test_pixel_padding_value_is_left_out_of_min_max(tmp_path):
    field = np.linspace(1000, 2000, 48 * 48).reshape(48, 48).astype(np.uint16)
    stored = np.full((64, 64), 4095, dtype=np.uint16)
    stored[8:56, 8:56] = field
    path = dicom.write_dx(tmp_path / "pad.dcm", stored, photometric="MONOCHROME1", modality="CR",
                          window=None, extra={"PixelPaddingValue": 4095})
    got = dicom.read_image(path)
    inner = got.display[8:56, 8:56]
    assert inner.min() == 0.0 and inner.max() == 1.0  # the field spans 0..1 (today: 0.677..1.000)
    np.testing.assert_allclose(inner, 1 - (field - 1000.0) / 1000.0, atol=1e-6)  # MONOCHROME1: 1000 is white
    assert got.padding.sum() == 64 * 64 - 48 * 48
    assert (got.display[got.padding] == dicom.PADDING_DISPLAY).all()


def test_pixel_padding_range_limit(tmp_path):
    stored = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))  # 0, 64, ..., 4032
    path = dicom.write_dx(tmp_path / "range.dcm", stored, window=None,
                          extra={"PixelPaddingValue": 0, "PixelPaddingRangeLimit": 200})
    got = dicom.read_image(path)
    assert got.padding[:, :4].all() and not got.padding[:, 4:].any()  # 0, 64, 128, 192 are padding
    assert got.display[0, 4] == 0.0 and got.display[0, -1] == 1.0 and (got.display[:, :4] == 0).all()


# ----------------------------------------------------------------------------- item 4: no file meta


def _without_file_meta(tmp_path, image):
    path = dicom.write_dx(tmp_path / "with_meta.dcm", image)
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    old = tmp_path / "old_archive.dcm"
    ds.save_as(old, implicit_vr=True, little_endian=True, enforce_file_format=False)
    raw = old.read_bytes()
    assert raw[128:132] != b"DICM" and b"\x02\x00\x10\x00" not in raw[:64]  # no preamble, no group 0002
    return path, old


def test_file_without_meta_loads_from_a_path_and_from_a_forced_dataset(tmp_path):
    image = np.random.default_rng(1).random((40, 32)).astype(np.float32)
    path, old = _without_file_meta(tmp_path, image)
    expected = dicom.load(path)
    np.testing.assert_array_equal(dicom.load(old), expected)
    forced = pydicom.dcmread(old, force=True)
    np.testing.assert_array_equal(dicom.load(forced), expected)
    assert "TransferSyntaxUID" not in getattr(forced, "file_meta", {})  # the caller's dataset is unchanged
    assert dicom.transfer_syntax(forced) == pydicom.uid.ImplicitVRLittleEndian


def test_file_without_meta_deidentifies(tmp_path):
    image = np.random.default_rng(2).random((40, 32)).astype(np.float32)
    who = dicom.fake_identity(5)
    path = dicom.write_dx(tmp_path / "phi.dcm", image, identity=who)
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    old = tmp_path / "old.dcm"
    ds.save_as(old, implicit_vr=True, little_endian=True, enforce_file_format=False)
    before = old.read_bytes()
    for source, target in ((old, tmp_path / "a.dcm"), (pydicom.dcmread(old, force=True), tmp_path / "b.dcm")):
        report = dicom.deidentify(source, target)
        assert dicom.find_values(target, [who["PatientName"], who["PatientID"], who["StudyDate"]]) == []
        np.testing.assert_array_equal(dicom.load(target), dicom.load(path))
        assert report["destination"] == str(target)
    assert old.read_bytes() == before


def test_text_file_is_still_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"patient list\nnothing here\n" * 20)
    with pytest.raises(dicom.NotDicomError, match="not a DICOM file"):
        dicom.load(path)


# ----------------------------------------------------------------------------- item 5: codecs


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "JPGExtended.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm"])
def test_jpeg_lossless_sv1_extended_and_jpeg_ls_files_load(name):
    path = get_testdata_file(name)
    got = dicom.read_image(path)
    assert got.display.dtype == np.float32 and 0 <= got.display.min() <= got.display.max() <= 1
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(got.stored, ds.pixel_array)  # the same decode as pydicom's own


def test_damaged_jpeg_extended_file_is_refused_with_a_dicom_error():
    # pydicom's JPEG-lossy.dcm has a misplaced marker segment: every decoder refuses it
    with pytest.raises(dicom.DicomError, match="(?s)could not be decoded.*damaged"):
        dicom.load(get_testdata_file("JPEG-lossy.dcm"))


def test_jpeg_ls_lossless_equals_the_uncompressed_original():
    np.testing.assert_array_equal(dicom.read_image(get_testdata_file("MR_small_jpeg_ls_lossless.dcm")).stored,
                                  dicom.read_image(get_testdata_file("MR_small.dcm")).stored)


def test_jpeg_baseline_grayscale_loads(tmp_path):
    from io import BytesIO

    from PIL import Image

    image = (np.add.outer(np.arange(64), np.arange(64)) * 2).astype(np.uint8)
    buffer = BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    path = dicom.write_dx(tmp_path / "plain8.dcm", image, bits_stored=8, window=None)
    ds = pydicom.dcmread(path)
    ds.BitsAllocated = 8
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
    ds.save_as(tmp_path / "baseline.dcm")
    got = dicom.read_image(tmp_path / "baseline.dcm")
    assert np.abs(got.stored.astype(int) - image).max() <= 8  # lossy, close


def test_a_syntax_no_plugin_decodes_still_names_the_way_out(tmp_path):
    _, path = _cr_12bit(tmp_path)
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    with pytest.raises(dicom.MissingDecoderError, match="MPEG2.*cannot decode at all"):
        dicom.load(ds)


# ----------------------------------------------------------------------------- held back: LUT sign


def _lut(first: int, vr: str, data: list[int], bits: int = 16) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, vr, [len(data), first, bits])
    item.add_new(0x00283006, "US", data)
    return item


def test_modality_lut_first_mapped_is_signed_for_signed_pixels_even_if_declared_us(tmp_path):
    stored = np.arange(-100, 156, dtype=np.int16).reshape(16, 16)
    table = list(range(1000, 1256))  # -100 -> 1000, ..., 155 -> 1255
    path = dicom.write_dx(tmp_path / "m.dcm", stored, bits_stored=16, window=None)
    ds = pydicom.dcmread(path)
    del ds.RescaleSlope, ds.RescaleIntercept
    ds.ModalityLUTSequence = Sequence([_lut(65536 - 100, "US", table)])  # -100 written as US 65436
    got = dicom.read_image(ds)
    np.testing.assert_array_equal(got.modality, stored.astype(float) + 1100)


def test_voi_lut_first_mapped_is_unsigned_for_unsigned_pixels_even_if_declared_ss(tmp_path):
    stored = np.arange(32768, 32768 + 256, dtype=np.uint16).reshape(16, 16)
    path = dicom.write_dx(tmp_path / "v.dcm", stored, bits_stored=16, window=None)
    ds = pydicom.dcmread(path)
    ds.VOILUTSequence = Sequence([_lut(-32768, "SS", list(range(0, 256)))])  # 32768 written as SS -32768
    got = dicom.read_image(ds)
    np.testing.assert_allclose(got.display, (stored.astype(float) - 32768) / 255, atol=1e-6)


# ----------------------------------------------------------------------------- pydicom cross-check


def test_fused_float32_display_equals_pydicoms_functions():
    path = get_testdata_file("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    bits = ds.BitsStored
    theirs = apply_windowing(apply_modality_lut(ds.pixel_array, ds), ds)
    theirs = 1 - theirs / (2 ** bits - 1)  # pydicom maps onto 0 .. 2**bits - 1; MONOCHROME1 inverted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = dicom.load(path)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=2e-6)


def test_ct_rescale_and_window_equal_pydicoms_functions():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    hu = apply_modality_lut(ds.pixel_array, ds)
    theirs = apply_windowing(hu, ds)
    lo = -(2 ** (ds.BitsStored - 1)) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    hi = (2 ** (ds.BitsStored - 1) - 1) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(dicom.load(ds), (theirs - lo) / (hi - lo), atol=2e-6)


def test_full_range_signed_16_bit_with_a_lut_path(tmp_path):
    stored = np.array([[-32768, -1, 0, 32767]] * 4, dtype=np.int16)
    path = dicom.write_dx(tmp_path / "full.dcm", stored, bits_stored=16, window=(0, 1000),
                          extra={"VOILUTFunction": "SIGMOID"})
    expected = dicom.window_level(stored.astype(float), 0, 1000, "SIGMOID")
    np.testing.assert_allclose(dicom.load(path), expected, atol=1e-6)


def test_a_one_bit_mask_loads_as_its_pixels():
    path = get_testdata_file("liver_1frame.dcm")  # a binary segmentation (Bits Allocated 1)
    ds = pydicom.dcmread(path)
    assert ds.BitsAllocated == 1
    np.testing.assert_array_equal(dicom.load(path), ds.pixel_array.astype(np.float32))
