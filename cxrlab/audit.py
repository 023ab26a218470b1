"""An audit trail of model predictions: one JSON line per study, no PHI, tamper-evident.

Each record says when (UTC), on what (a pseudonymous study id and the SHA-256 of the
input pixels), with which model (version and SHA-256 of its weights) and what came out.
It must never hold protected health information: :class:`AuditLog` refuses fields whose
names suggest PHI (patient name, birth date, accession number, ...), person names in
DICOM form (``Family^Given``), and any value you tell it is forbidden (e.g. the original
header values). Each line also carries the SHA-256 of the line before it, so deleting or
editing a line breaks the chain and :func:`verify_audit_log` finds it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch

GENESIS = "0" * 64
PHI_FIELDS = frozenset({
    "name", "patientname", "patient", "patientid", "mrn", "medicalrecordnumber", "otherpatientids",
    "birthdate", "patientbirthdate", "dateofbirth", "dob", "address", "patientaddress", "phone",
    "telephone", "patienttelephonenumbers", "email", "ssn", "nhsnumber", "accession", "accessionnumber",
    "institutionname", "referringphysicianname", "physician", "operatorsname", "studyinstanceuid",
    "seriesinstanceuid", "sopinstanceuid", "studydate", "filename", "path",
})
STUDY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PHIError(ValueError):
    """An audit record would have held protected health information."""


def sha256_pixels(pixels: np.ndarray | torch.Tensor) -> str:
    """SHA-256 (hex) of an image: its shape, dtype and values, so equal images hash equal."""
    array = pixels.detach().cpu().numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
    if array.size == 0:
        raise ValueError("cannot hash an empty image; check that the pixels were loaded")
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def sha256_weights(model: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of a model's weights (its state dict: names, dtypes, shapes and values)."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    if not state:
        raise ValueError("the model has no weights to hash")
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest()


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


class AuditLog:
    """Append-only JSON-lines audit log for one model.

    ``path``: the ``.jsonl`` file (created if missing; its folder must exist).
    ``model_version`` and ``weights_sha256`` (64 hex digits) go into every record.
    ``forbidden_values``: strings that must never appear in a record (e.g. the patient
    names and IDs of the original headers); a record containing one is refused.
    """

    def __init__(self, path: str | os.PathLike, *, model_version: str, weights_sha256: str,
                 forbidden_values: Iterable[str] = ()) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.path.parent} does not exist; create it before the audit log")
        if not str(model_version).strip():
            raise ValueError("model_version must be a non-empty string, e.g. 'chest-resnet18 v1'")
        if not re.fullmatch(r"[0-9a-f]{64}", str(weights_sha256)):
            raise ValueError("weights_sha256 must be 64 lower-case hex digits; compute it with "
                             "cxrlab.audit.sha256_weights(model)")
        self.model_version, self.weights_sha256 = str(model_version), str(weights_sha256)
        self._forbidden = sorted({str(v).strip() for v in forbidden_values if len(str(v).strip()) >= 3},
                                 key=len, reverse=True)
        self._last = GENESIS
        if self.path.exists() and self.path.stat().st_size > 0:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            self._last = _line_hash(lines[-1]) if lines else GENESIS

    def _check(self, value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if _normal(str(key)) in PHI_FIELDS:
                    raise PHIError(f"audit field {where}{key!r} would hold PHI; log only the pseudonymous "
                                   "study id, hashes and model outputs")
                self._check(item, f"{where}{key}.")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self._check(item, f"{where}{index}.")
        elif isinstance(value, str):
            if "^" in value:
                raise PHIError(f"audit value at {where.rstrip('.')} looks like a DICOM person name "
                               "(it contains '^'); remove it")
            for bad in self._forbidden:
                if bad.lower() in value.lower():
                    raise PHIError(f"audit value at {where.rstrip('.')} contains a forbidden (PHI) value; remove it")
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise TypeError(f"audit value at {where.rstrip('.')} has type {type(value).__name__}; use "
                            "str, int, float, bool, None, lists or dicts (convert tensors with float())")

    def record(self, *, study_id: str, input_sha256: str, output: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Append one record and return it.

        ``study_id``: a pseudonym (letters, digits, '.', '_', '-'; at most 64), e.g. from
        :func:`cxrlab.dicom.deidentify`. ``input_sha256``: from :func:`sha256_pixels`.
        ``output``: what the model said (probabilities, class, threshold...). ``extra``:
        other non-PHI context (e.g. the heatmap's hash). Raises PHIError on PHI.
        """
        if not isinstance(study_id, str) or not STUDY_ID.match(study_id):
            raise PHIError(f"study_id {study_id!r} is not a pseudonymous id (letters, digits, '.', '_', '-', "
                           "at most 64); use the pseudonym from de-identification, never a name")
        if re.fullmatch(r"(19|20)\d{6}", study_id):
            raise PHIError(f"study_id {study_id!r} looks like a date; use the pseudonym from de-identification")
        if not isinstance(input_sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", input_sha256):
            raise ValueError("input_sha256 must be 64 lower-case hex digits from cxrlab.audit.sha256_pixels")
        if not isinstance(output, Mapping) or not output:
            raise ValueError("output must be a non-empty dict of what the model returned")
        entry = {
            "time_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "study_id": study_id,
            "model_version": self.model_version,
            "weights_sha256": self.weights_sha256,
            "input_sha256": input_sha256,
            "output": dict(output),
        }
        if extra:
            entry["extra"] = dict(extra)
        self._check(entry, "")
        entry["prev_sha256"] = self._last
        line = json.dumps(entry, sort_keys=True, allow_nan=False)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        self._last = _line_hash(line)
        return entry


def read_audit_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a JSON-lines audit log, oldest first."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no audit log there; check the path")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verify_audit_log(path: str | os.PathLike) -> int:
    """Check the hash chain; return the number of records, or raise ValueError at the first broken link."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    previous = GENESIS
    for number, line in enumerate(lines, start=1):
        if json.loads(line).get("prev_sha256") != previous:
            raise ValueError(f"{path}: record {number} does not follow record {number - 1}: "
                             "a line was removed, inserted or edited")
        previous = _line_hash(line)
    return len(lines)


__all__ = ["AuditLog", "PHIError", "sha256_pixels", "sha256_weights", "read_audit_log",
           "verify_audit_log", "PHI_FIELDS"]
