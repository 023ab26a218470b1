"""The app's bundled examples: one real radiograph and a few synthetic ones.

- ``RG1_UNCR``: a real computed radiograph of a chest (CR, PA, MONOCHROME1, 15 bits stored,
  1955 x 1841) with a realistic identifying header, shipped by the ``pydicom-data`` package.
- phantoms: synthetic chest radiographs from ``cxrlab.phantom`` written as DX files by
  ``cxrlab.dicom.write_dx`` with an invented identity (``cxrlab.dicom.fake_identity``), one of
  them stored MONOCHROME1 as CR readers do. Written once into ``<data folder>/app/examples``.
"""

from __future__ import annotations

from pathlib import Path

from cxrlab.settings import data_dir

PHANTOMS = (  # (label, phantom index, photometric, bits)
    ("Phantom A: DX, MONOCHROME2, 12 bits", 0, "MONOCHROME2", 12),
    ("Phantom B: DX, MONOCHROME2, 12 bits", 1, "MONOCHROME2", 12),
    ("Phantom C: CR, MONOCHROME1, 10 bits", 2, "MONOCHROME1", 10),
)
RG1 = "Real CR chest: RG1_UNCR (pydicom-data, MONOCHROME1, 15 bits)"
VERSION = "1"


def folder() -> Path:
    """Where the phantom examples are written (created on first use)."""
    return data_dir() / "app" / f"examples-v{VERSION}"


def phantom_files() -> dict[str, Path]:
    """label -> path of each phantom example, written on first call (a second or two)."""
    from cxrlab.dicom import fake_identity, write_dx
    from cxrlab.phantom import generate

    out = folder()
    paths = {label: out / f"phantom-{index}.dcm" for label, index, _, _ in PHANTOMS}
    if all(path.is_file() for path in paths.values()):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    phantoms = generate(len(PHANTOMS), size=256, seed=11, prevalence=1.0, lesion_contrast=3.0, progress=False)
    for label, index, photometric, bits in PHANTOMS:
        partial = paths[label].with_suffix(".part")
        partial.unlink(missing_ok=True)
        write_dx(partial, phantoms.images[index], identity=fake_identity(100 + index),
                 modality="CR" if photometric == "MONOCHROME1" else "DX", photometric=photometric, bits_stored=bits)
        partial.replace(paths[label])
    return paths


def examples() -> dict[str, Path]:
    """label -> path of every bundled example (RG1_UNCR first, when pydicom-data is installed)."""
    found: dict[str, Path] = {}
    try:
        from pydicom.data import get_testdata_file

        rg1 = get_testdata_file("RG1_UNCR.dcm", download=False)
        if rg1:
            found[RG1] = Path(rg1)
    except Exception:  # noqa: BLE001 - pydicom-data missing: the phantoms remain
        pass
    found.update(phantom_files())
    return found
