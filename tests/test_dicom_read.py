"""cxrlab.dicom.load / read_image: modality LUT, VOI (windows, VOI LUT), MONOCHROME1, codecs, errors."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence
from pydicom.uid import RLELossless

from cxrlab import dicom
from cxrlab.dicom import read as read_module

TOP12 = 2 ** 12 - 1


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:40]
    return np.clip(0.2 + 0.6 * (xx / 39) + 0.05 * rng.standard_normal((48, 40)), 0, 1).astype(np.float32)


def test_round_trip_monochrome2(tmp_path, image):
    path = dicom.write_dx(tmp_path / "a.dcm", image)
    loaded = dicom.read_image(path)
    assert loaded.display.dtype == np.float32 and loaded.display.shape == image.shape
    assert not loaded.inverted and "file window 1 of 1" in loaded.voi
    np.testing.assert_allclose(loaded.display, image, atol=0.5 / TOP12 + 1e-6)


def test_monochrome1_is_inverted_so_brighter_means_denser(tmp_path, image):
    path = dicom.write_dx(tmp_path / "m1.dcm", image, photometric="MONOCHROME1")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.PresentationLUTShape == "INVERSE"
    # stored values are flipped: dense (1.0) is stored as 0 ...
    np.testing.assert_array_equal(ds.pixel_array, TOP12 - np.rint(image * TOP12).astype(np.uint16))
    loaded = dicom.read_image(path)
    assert loaded.inverted  # ... and comes back as 1.0 (inverted once, not twice)
    np.testing.assert_allclose(loaded.display, image, atol=0.5 / TOP12 + 1e-6)


def test_monochrome1_known_values(tmp_path):
    stored = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)
    path = dicom.write_dx(tmp_path / "k.dcm", stored, photometric="MONOCHROME1", window=(2048, 4096))
    expected = 1 - dicom.window_level(stored.astype(float), 2048, 4096)
    np.testing.assert_allclose(dicom.load(path), expected, atol=1e-7)
    assert dicom.load(path)[0, 0] == 1.0 and dicom.load(path)[1, 1] == 0.0


def test_multi_valued_windows(tmp_path, image):
    windows = [(1000, 800), (2500, 3000)]
    path = dicom.write_dx(tmp_path / "w.dcm", image, window=windows)
    ds = pydicom.dcmread(path)
    assert ds["WindowCenter"].VM == 2  # the seed's float(getattr(ds, "WindowCenter")) fails here
    with pytest.raises(TypeError):
        float(ds.WindowCenter)
    values = ds.pixel_array.astype(float)
    for index, (center, width) in enumerate(windows):
        got = dicom.read_image(path, window_index=index)
        np.testing.assert_allclose(got.display, dicom.window_level(values, center, width), atol=1e-6)
        assert f"window {index + 1} of 2" in got.voi
    with pytest.raises(dicom.DicomError, match="window_index must be 0 to 1"):
        dicom.load(path, window_index=2)


def test_explicit_window_overrides_the_file(tmp_path, image):
    path = dicom.write_dx(tmp_path / "o.dcm", image, window=(100, 50))
    values = pydicom.dcmread(path).pixel_array.astype(float)
    np.testing.assert_allclose(dicom.load(path, window=(2048, 1024)),
                               dicom.window_level(values, 2048, 1024), atol=1e-6)
    np.testing.assert_allclose(dicom.load(path, window="minmax"), dicom.min_max(values), atol=1e-6)


def test_rescale_with_signed_pixels(tmp_path):
    stored = np.arange(-2000, 2000, 4, dtype=np.int16).reshape(25, 40)
    path = dicom.write_dx(tmp_path / "s.dcm", stored, bits_stored=12, rescale=(0.5, -100.0),
                          window=(150, 700))
    ds = pydicom.dcmread(path)
    assert ds.PixelRepresentation == 1 and ds.pixel_array.min() == -2000
    loaded = dicom.read_image(path)
    modality = 0.5 * stored.astype(float) - 100
    np.testing.assert_allclose(loaded.modality, modality)
    np.testing.assert_allclose(loaded.modality, apply_modality_lut(ds.pixel_array, ds))
    # the file's window goes through pydicom (output range rescaled) and must agree with the formula
    np.testing.assert_allclose(loaded.display, dicom.window_level(modality, 150, 700), atol=1e-6)


def test_real_signed_ct_with_rescale_matches_pydicom():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert ds.PixelRepresentation == 1 and float(ds.RescaleIntercept) != 0
    got = dicom.read_image(path, window=(40, 400))
    np.testing.assert_allclose(got.modality, hu)
    np.testing.assert_allclose(got.display, dicom.window_level(hu, 40, 400), atol=1e-6)


def _lut_item(first_map: int, data: list[int], bits: int = 8, explanation: str = "gamma") -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", [len(data), first_map, bits])  # LUT Descriptor
    item.add_new(0x00283003, "LO", explanation)                    # LUT Explanation
    item.add_new(0x00283006, "US", data)                           # LUT Data
    return item


def test_voi_lut_sequence_is_used_and_preferred_to_the_window(tmp_path):
    # 12-bit input, 8-bit output with 1000 entries: the common case (pydicom 3.0.2's
    # apply_voi wraps indices past 255 for 8-bit LUTs, so cxrlab looks values up itself)
    stored = np.arange(0, 1200, dtype=np.uint16).reshape(30, 40)
    first, n = 100, 1000  # values below 100 -> entry 0, above 1099 -> last entry
    lut = np.rint(255 * (np.arange(n) / (n - 1)) ** 0.5).astype(int).tolist()
    path = dicom.write_dx(tmp_path / "lut.dcm", stored, window=(600, 1200),
                          extra={"VOILUTSequence": Sequence([_lut_item(first, lut)])})
    got = dicom.read_image(path)
    expected = np.asarray(lut)[np.clip(stored.astype(int) - first, 0, n - 1)] / 255
    np.testing.assert_allclose(got.display, expected, atol=1e-6)
    assert "VOI LUT Sequence item 1 of 1 (gamma)" == got.voi
    with pytest.raises(dicom.DicomError, match="VOI LUT"):
        dicom.load(path, window_index=1)


def test_voi_lut_matches_pydicom_for_a_16_bit_lut(tmp_path):
    stored = np.arange(0, 4096, 4, dtype=np.uint16).reshape(32, 32)
    lut = np.rint(65535 / (1 + np.exp(-(np.arange(3000) - 1500) / 300))).astype(int).tolist()
    path = dicom.write_dx(tmp_path / "lut16.dcm", stored, window=None,
                          extra={"VOILUTSequence": Sequence([_lut_item(500, lut, bits=16)])})
    ds = pydicom.dcmread(path)
    theirs = apply_voi_lut(ds.pixel_array, ds).astype(float)
    lo, hi = min(lut), max(lut)
    np.testing.assert_allclose(dicom.load(path), (theirs - lo) / (hi - lo), atol=1e-6)


def test_voi_lut_narrower_than_declared_is_scaled_by_its_own_range(tmp_path):
    stored = np.arange(0, 1024, dtype=np.uint16).reshape(32, 32)
    lut = list(range(0, 4096, 4))  # declared 16 bits per entry, data only reaches 4092
    path = dicom.write_dx(tmp_path / "narrow.dcm", stored, window=None,
                          extra={"VOILUTSequence": Sequence([_lut_item(0, lut, bits=16)])})
    got = dicom.load(path)
    assert got.max() == 1.0 and got.min() == 0.0


def test_modality_lut_sequence(tmp_path):
    stored = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    table = (np.arange(256) * 3 + 7).tolist()
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 16])
    item.add_new(0x00283006, "US", table)
    item.ModalityLUTType = "US"
    path = dicom.write_dx(tmp_path / "mlut.dcm", stored, bits_stored=8, window=None,
                          extra={"ModalityLUTSequence": Sequence([item])})
    ds = pydicom.dcmread(path)
    del ds.RescaleSlope, ds.RescaleIntercept  # a Modality LUT replaces rescale
    got = dicom.read_image(ds)
    np.testing.assert_allclose(got.modality, np.asarray(table).reshape(16, 16))
    np.testing.assert_allclose(got.display, dicom.min_max(got.modality), atol=1e-6)


def test_sigmoid_voi_function_in_the_file(tmp_path, image):
    path = dicom.write_dx(tmp_path / "sig.dcm", image, window=(2048, 1000), extra={"VOILUTFunction": "SIGMOID"})
    values = pydicom.dcmread(path).pixel_array.astype(float)
    np.testing.assert_allclose(dicom.load(path), dicom.window_level(values, 2048, 1000, "SIGMOID"), atol=1e-6)


def test_no_window_falls_back_to_min_max(tmp_path, image):
    path = dicom.write_dx(tmp_path / "nw.dcm", image, window=None)
    got = dicom.read_image(path)
    assert got.voi.startswith("min-max")
    np.testing.assert_allclose(got.display, dicom.min_max(got.modality), atol=1e-6)


def test_rle_lossless_file_decodes_to_the_same_pixels(tmp_path, image):
    plain = dicom.write_dx(tmp_path / "plain.dcm", image, photometric="MONOCHROME1")
    rle = dicom.write_dx(tmp_path / "rle.dcm", image, photometric="MONOCHROME1", compress="rle")
    assert pydicom.dcmread(rle).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(dicom.load(rle), dicom.load(plain))


def test_real_cr_radiograph_monochrome1_and_its_jpeg2000_copy():
    raw = dicom.read_image(get_testdata_file("RG1_UNCR.dcm"))
    assert raw.photometric == "MONOCHROME1" and raw.inverted
    assert raw.display.shape == (1955, 1841) and raw.dataset.BitsStored == 15
    assert raw.voi == "file window 1 of 1: center 15000, width 30000 (LINEAR)"
    expected = 1 - dicom.window_level(raw.stored.astype(float), 15000, 30000)
    np.testing.assert_allclose(raw.display, expected, atol=1e-6)
    j2k = dicom.read_image(get_testdata_file("RG1_J2KR.dcm"))  # JPEG 2000 lossless, needs pylibjpeg-openjpeg
    assert j2k.dataset.file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_array_equal(j2k.stored, raw.stored)


def test_multi_frame_needs_a_frame():
    path = get_testdata_file("emri_small.dcm")
    frames = int(pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames)
    with pytest.raises(dicom.DicomError, match=f"holds {frames} frames; pass frame="):
        dicom.load(path)
    assert dicom.load(path, frame=1).ndim == 2
    with pytest.raises(dicom.DicomError, match="out of range"):
        dicom.load(path, frame=frames)


# ----------------------------------------------------------------------------- bad input


def test_not_a_dicom_file(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("not an image")
    with pytest.raises(dicom.NotDicomError, match=r"notes\.dcm is not a DICOM file.*force=True"):
        dicom.load(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        dicom.load(tmp_path / "missing.dcm")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        dicom.load(tmp_path)
    with pytest.raises(TypeError, match="path to a DICOM file"):
        dicom.load(42)


def test_no_pixel_data():
    with pytest.raises(dicom.NoPixelDataError, match=r"rtplan\.dcm has no Pixel Data"):
        dicom.load(get_testdata_file("rtplan.dcm"))


def test_colour_image_is_refused():
    with pytest.raises(dicom.UnsupportedPhotometricError, match=r"SC_rgb\.dcm.*'RGB'.*MONOCHROME1 or MONOCHROME2"):
        dicom.load(get_testdata_file("SC_rgb.dcm"))


def test_missing_decoder_names_the_packages(tmp_path, image, monkeypatch):
    path = dicom.write_dx(tmp_path / "rle.dcm", image, compress="rle")

    class NoDecoder:
        is_available = False
        missing_dependencies = ["pylibjpeg-rle - requires pylibjpeg>=2.0 and pylibjpeg-rle>=2.0"]

    monkeypatch.setattr(read_module, "get_decoder", lambda syntax: NoDecoder())
    message = r"rle\.dcm is compressed with RLE Lossless.*Install one of: pylibjpeg-rle"
    with pytest.raises(dicom.MissingDecoderError, match=message):
        dicom.load(path)


def test_missing_decoder_for_a_real_jpeg_ls_file():
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    with pytest.raises(dicom.MissingDecoderError, match="JPEG-LS.*pyjpegls"):
        dicom.load(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))


def test_bad_window_argument(tmp_path, image):
    path = dicom.write_dx(tmp_path / "b.dcm", image)
    with pytest.raises(ValueError, match="not understood"):
        dicom.load(path, window="lung")
    with pytest.raises(ValueError, match=r"\(center, width\)"):
        dicom.load(path, window=(1, 2, 3))
    with pytest.raises(ValueError, match="width >= 1"):
        dicom.load(path, window=(100, 0))


def test_invalid_window_in_the_file_is_skipped_with_a_note(tmp_path, image):
    path = dicom.write_dx(tmp_path / "bad.dcm", image, window=None, extra={"WindowCenter": "100", "WindowWidth": "0.5"})
    with pytest.warns(dicom.DicomWarning, match="width < 1"):
        got = dicom.read_image(path)
    assert got.voi.startswith("min-max") and "skipped" in got.notes[0]
    np.testing.assert_allclose(got.display, dicom.min_max(got.modality), atol=1e-6)
