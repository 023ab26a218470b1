"""Every file cxrlab writes passes dciodvfy (Debian's dicom3tools, David Clunie's IOD validator).

``.ci/run`` installs dicom3tools. The test is skipped, with the reason, only where the tool is
missing. It writes DX and CR files (plain, RLE, JPEG 2000; with and without an identity) and
their de-identified copies, and asserts that dciodvfy prints no "Error" line. About 2 s.
"""

import shutil
import subprocess

import numpy as np
import pytest

from cxrlab import dicom

DCIODVFY = shutil.which("dciodvfy")
pytestmark = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not "
                                "installed: apt-get install dicom3tools")

CASES = {
    "dx_identity": dict(identity=dicom.fake_identity(1)),
    "cr_monochrome1_rle": dict(modality="CR", photometric="MONOCHROME1", compress="rle",
                               identity=dicom.fake_identity(2)),
    "dx_ap_jpeg2000": dict(compress="jpeg2000", view="AP"),
    "cr_two_windows_signed": dict(window=[(0, 2000), (100, 400)], rescale=(1.0, -1024.0)),
}


def dciodvfy(path) -> list[str]:
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).splitlines()


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_and_deidentified_files_have_no_error(tmp_path, case):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    kwargs = dict(CASES[case])
    if case == "cr_two_windows_signed":
        image = (image * 4000 - 2000).astype(np.int16)
    written = dicom.write_dx(tmp_path / f"{case}.dcm", image, **kwargs)
    dicom.deidentify(written, tmp_path / f"{case}_deid.dcm")
    for path in (written, tmp_path / f"{case}_deid.dcm"):
        lines = dciodvfy(path)
        assert any(line.strip() in ("DXImageForPresentation", "CRImage") for line in lines), lines
        errors = [line for line in lines if "Error" in line]
        assert errors == [], f"{path.name}: {errors}"
