"""Plausible but invented identities for test DICOM headers (no real person, no Faker).

A header with realistic protected health information (PHI) is what de-identification
must be tested on: names, IDs, dates, addresses, phone numbers, staff and device names.
Every value here is drawn from fixed lists with a seed, so the same seed gives the
same person.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

GIVEN_NAMES = {
    "F": ["Amara", "Beatriz", "Chiara", "Dalia", "Elif", "Freya", "Grace", "Hana", "Ingrid", "Jasmin",
          "Keiko", "Leila", "Marta", "Nadia", "Olivia", "Priya", "Rosa", "Sofia", "Tamsin", "Yara"],
    "M": ["Adebayo", "Bruno", "Callum", "Dmitri", "Emeka", "Farid", "Gareth", "Hiroshi", "Ivan", "Jonas",
          "Kwame", "Luca", "Mateo", "Niall", "Omar", "Pavel", "Rahul", "Stefan", "Tomasz", "Yusuf"],
}
FAMILY_NAMES = ["Abernethy", "Balogun", "Castellano", "Dunmore", "Eriksen", "Fairweather", "Gallagher",
                "Hartigan", "Iqbal", "Jablonski", "Kowalczyk", "Lindqvist", "Mbeki", "Nakamura", "Okafor",
                "Pemberton", "Quintero", "Rasmussen", "Szabo", "Thornbury", "Umarov", "Valdivia",
                "Whitcombe", "Xenakis", "Yilmaz", "Zielinski"]
STREETS = ["Larchmere Road", "Bramble Lane", "Quarry Hill", "Fenwick Street", "Mill Race Close",
           "Harbour View", "Orchard Rise", "Kestrel Way", "Tanners Row", "Willowbank Avenue"]
TOWNS = [("Eastbury", "EB"), ("Northfold", "NF"), ("Ashcombe", "AC"), ("Redmarsh", "RM"),
         ("Kingsmere", "KM"), ("Lowther Bridge", "LB")]
HOSPITALS = ["St Aldric General Hospital", "Northfold Royal Infirmary", "Ashcombe Community Hospital",
             "Redmarsh University Medical Centre", "Kingsmere Chest Clinic", "Lowther Valley Hospital"]
DEPARTMENTS = ["Radiology", "Emergency Radiology", "Diagnostic Imaging", "Thoracic Imaging"]
STATIONS = ["XR-ROOM-2", "DXR-ED-01", "CHEST-PA-3", "MOBILE-DR-7", "XRAY-OPD-4"]
MANUFACTURERS = [("Fictive Medical Systems", "DR-Vista 4300"), ("Imaginex Healthcare", "ThoraScan 9"),
                 ("Nullpoint Imaging", "FlatPanel FX2")]


def _pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def _person(rng: np.random.Generator, sex: str | None = None) -> tuple[str, str]:
    sex = sex if sex in GIVEN_NAMES else _pick(rng, ["F", "M"])
    return str(_pick(rng, FAMILY_NAMES)), str(_pick(rng, GIVEN_NAMES[sex]))


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=n))


def fake_identity(seed: int, *, sex: str | None = None, age: int | None = None,
                  institution: str | None = None, study_date: dt.date | None = None) -> dict[str, object]:
    """An invented patient, study and site, as DICOM keywords -> values.

    ``sex`` ("F" or "M"), ``age`` (whole years, 0 to 110), ``institution`` and
    ``study_date`` are drawn from ``seed`` when not given. The dict can be passed as
    ``identity=`` to :func:`cxrlab.dicom.write_dx`. Every value is fictitious.

    Args:
        seed: any integer; the same seed gives the same identity.
        sex, age, institution, study_date: fixed values instead of drawn ones.

    Returns:
        A dict of DICOM keyword -> value (strings).

    Raises:
        ValueError: a sex other than F, M, O or an age outside 0..110.
    """
    if sex is not None and sex not in ("F", "M", "O"):
        raise ValueError(f"sex must be 'F', 'M' or 'O' (DICOM Patient's Sex), got {sex!r}")
    if age is not None and not 0 <= int(age) <= 110:
        raise ValueError(f"age must be whole years between 0 and 110, got {age!r}")
    rng = np.random.default_rng([int(seed), 7])
    sex = sex or str(_pick(rng, ["F", "M"]))
    age = int(age) if age is not None else int(rng.integers(18, 91))
    family, given = _person(rng, sex if sex in GIVEN_NAMES else None)
    if study_date is None:
        study_date = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
    birth = study_date - dt.timedelta(days=365 * age + int(rng.integers(1, 360)))
    town, postcode = _pick(rng, TOWNS)
    hospital = institution or str(_pick(rng, HOSPITALS))
    maker, model = _pick(rng, MANUFACTURERS)
    ref_family, ref_given = _person(rng)
    perf_family, perf_given = _person(rng)
    op_family, op_given = _person(rng)
    hour, minute, second = int(rng.integers(7, 22)), int(rng.integers(60)), int(rng.integers(60))
    mrn = f"MRN{_digits(rng, 7)}"
    return {
        "PatientName": f"{family}^{given}",
        "PatientID": mrn,
        "IssuerOfPatientID": hospital,
        "OtherPatientIDs": f"NHS{_digits(rng, 9)}",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": sex,
        "PatientAge": f"{age:03d}Y",
        "PatientAddress": f"{int(rng.integers(2, 240))} {_pick(rng, STREETS)}, {town}, "
                          f"{postcode}{int(rng.integers(1, 20))} {int(rng.integers(1, 10))}"
                          f"{chr(65 + int(rng.integers(26)))}{chr(65 + int(rng.integers(26)))}",
        "PatientTelephoneNumbers": f"+44 7{_digits(rng, 3)} {_digits(rng, 6)}",
        "AdditionalPatientHistory": f"{given} {family} reports cough for {int(rng.integers(2, 30))} days; "
                                    f"lives at {town}",
        "InstitutionName": hospital,
        "InstitutionAddress": f"{int(rng.integers(1, 99))} {_pick(rng, STREETS)}, {town}",
        "InstitutionalDepartmentName": str(_pick(rng, DEPARTMENTS)),
        "ReferringPhysicianName": f"{ref_family}^{ref_given}^^Dr",
        "PerformingPhysicianName": f"{perf_family}^{perf_given}",
        "OperatorsName": f"{op_family}^{op_given}",
        "StationName": str(_pick(rng, STATIONS)),
        "Manufacturer": maker,
        "ManufacturerModelName": model,
        "DeviceSerialNumber": f"SN-{_digits(rng, 8)}",
        "DetectorID": f"DET{_digits(rng, 6)}",
        "AccessionNumber": f"ACC{_digits(rng, 9)}",
        "StudyID": f"ST{_digits(rng, 6)}",
        "StudyDate": study_date.strftime("%Y%m%d"),
        "StudyTime": f"{hour:02d}{minute:02d}{second:02d}",
        "StudyDescription": f"CHEST PA for {family} (ward {int(rng.integers(1, 40))})",
        "RequestedProcedureID": f"RP{_digits(rng, 7)}",
        "ImageComments": f"Portable film; patient {given} {family}, MRN {mrn}",
    }


__all__ = ["fake_identity"]
