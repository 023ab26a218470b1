"""cxrlab.audit: JSON-lines records, hashes, the hash chain, and refusal of PHI."""

import datetime as dt
import hashlib
import json

import numpy as np
import pytest
import torch

from cxrlab.audit import AuditLog, PHIError, read_audit_log, sha256_pixels, sha256_weights, verify_audit_log

WEIGHTS = "ab" * 32


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl", model_version="chest-cnn 1.0", weights_sha256=WEIGHTS,
                    forbidden_values=["Okafor^Grace", "MRN1234567"])


def test_record_fields_and_json_lines(log):
    pixels = sha256_pixels(np.zeros((4, 4), dtype=np.float32))
    entry = log.record(study_id="S-3F9A0C21D4", input_sha256=pixels,
                       output={"probabilities": {"nodule": 0.83, "normal": 0.17}, "predicted": "nodule"})
    lines = log.path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == entry == read_audit_log(log.path)[0]
    assert set(entry) == {"time_utc", "study_id", "model_version", "weights_sha256", "input_sha256",
                          "output", "prev_sha256"}
    when = dt.datetime.fromisoformat(entry["time_utc"].replace("Z", "+00:00"))
    assert when.utcoffset() == dt.timedelta(0) and abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 60
    assert entry["weights_sha256"] == WEIGHTS and entry["prev_sha256"] == "0" * 64


def test_hash_chain_detects_edits_and_deletions(tmp_path, log):
    for i in range(3):
        log.record(study_id=f"S-{i}", input_sha256="0" * 64, output={"p": i / 10})
    assert verify_audit_log(log.path) == 3
    again = AuditLog(log.path, model_version="chest-cnn 1.0", weights_sha256=WEIGHTS)  # reopening continues it
    again.record(study_id="S-9", input_sha256="0" * 64, output={"p": 0.9})
    assert verify_audit_log(log.path) == 4
    lines = log.path.read_text().splitlines()
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join([lines[0], lines[1].replace('"p": 0.1', '"p": 0.7')] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match="record 3"):
        verify_audit_log(edited)
    deleted = tmp_path / "deleted.jsonl"
    deleted.write_text("\n".join([lines[0]] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match="record 2"):
        verify_audit_log(deleted)


@pytest.mark.parametrize("output,message", [
    ({"patient_name": "x"}, "would hold PHI"),
    ({"details": {"PatientBirthDate": "19400305"}}, "would hold PHI"),
    ({"note": "Okafor^Grace"}, "person name"),
    ({"note": "seen for mrn1234567"}, "forbidden"),
    ({"items": ["ok", {"AccessionNumber": "A1"}]}, "would hold PHI"),
])
def test_phi_is_refused(log, output, message):
    with pytest.raises(PHIError, match=message):
        log.record(study_id="S-1", input_sha256="0" * 64, output=output)
    assert not log.path.exists()  # nothing was written


@pytest.mark.parametrize("study_id", ["Okafor Grace", "Okafor^Grace", "19400305", "", "x" * 65])
def test_study_id_must_be_a_pseudonym(log, study_id):
    with pytest.raises(PHIError):
        log.record(study_id=study_id, input_sha256="0" * 64, output={"p": 0.5})


def test_other_bad_input(tmp_path, log):
    with pytest.raises(ValueError, match="64 lower-case hex"):
        log.record(study_id="S-1", input_sha256="abc", output={"p": 0.5})
    with pytest.raises(ValueError, match="non-empty dict"):
        log.record(study_id="S-1", input_sha256="0" * 64, output={})
    with pytest.raises(TypeError, match="convert tensors"):
        log.record(study_id="S-1", input_sha256="0" * 64, output={"p": torch.tensor(0.5)})
    with pytest.raises(ValueError, match="weights_sha256"):
        AuditLog(tmp_path / "a.jsonl", model_version="v1", weights_sha256="nothex")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AuditLog(tmp_path / "no" / "a.jsonl", model_version="v1", weights_sha256=WEIGHTS)


def test_sha256_pixels_known_value_and_invariants():
    a = np.arange(6, dtype=np.uint16).reshape(2, 3)
    expected = hashlib.sha256(b"<u2(2, 3)" + a.tobytes()).hexdigest()
    assert sha256_pixels(a) == expected == sha256_pixels(torch.from_numpy(a.astype(np.int32)).numpy().astype(np.uint16))
    assert sha256_pixels(a) != sha256_pixels(a.astype(np.float32))  # same values, other dtype
    assert sha256_pixels(a) != sha256_pixels(a.reshape(3, 2))        # same bytes, other shape
    assert sha256_pixels(np.asfortranarray(a)) == sha256_pixels(a)  # memory layout does not matter
    with pytest.raises(ValueError, match="empty"):
        sha256_pixels(np.array([]))


def test_sha256_weights_changes_with_any_weight():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    first = sha256_weights(model)
    assert first == sha256_weights(model.state_dict()) and len(first) == 64
    reordered = dict(reversed(list(model.state_dict().items())))
    assert sha256_weights(reordered) == first
    with torch.no_grad():
        model[2].bias += 1e-6
    assert sha256_weights(model) != first
    with pytest.raises(ValueError, match="no weights"):
        sha256_weights(torch.nn.ReLU())
