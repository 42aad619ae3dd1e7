"""A patient's records as a file: JSON, CSV or a FHIR R4 Bundle; and disclosures outside the program.

What goes out
    * JSON, the whole record: the profile, every check-in, every
      questionnaire response with each answer's wording and points and the
      score as it was scored, weekly goals, and attendance (date, kind,
      status, hours; the clinician's note on a session stays with the
      program).
    * CSV: the check-ins only, one row per day, oldest first; list fields are
      joined with ";".
    * FHIR R4 Bundle (type collection): a Patient (the display name and the
      Waypoint id, nothing more: no e-mail, no time zone), the check-ins as
      Observations, and each questionnaire as a QuestionnaireResponse with
      its Questionnaire and its scores as Observations. Goals and attendance
      are in the JSON only.

Codes (FHIR)
    LOINC only where the code is certain: 93832-4 Sleep duration; the PHQ-9
    panel 44249-1, its items 44250-9 ... 44260-8 and total 44261-6; the GAD-7
    panel 69737-5, its items 69725-0 ... 69736-7 and total 70274-6; the
    answers "Not at all" .. "Nearly every day" LA6568-5, LA6569-3, LA6570-1,
    LA6571-9. Everything else (craving, mood, sleep quality, use,
    medication, self-harm thoughts, coping skills, triggers, the BAM and its
    subscales) uses Waypoint's own code systems under FHIR_BASE: no LOINC
    code is made up. Questionnaires carry Waypoint's canonical URLs, with the
    LOINC panel and item codes on the Questionnaire for PHQ-9 and GAD-7.

The redisclosure notice
    A disclosure outside the program carries the 42 CFR 2.32(a)(1) notice and
    an explanation of the consent behind it (2.32(b)). A patient's own
    export is not a disclosure under Part 2, but carries the notice as well,
    with a line saying so, so the notice travels with the records if the
    patient passes them on.
"""
from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from models import (
    AssessmentResponse, AttendanceRecord, Checkin, Consent, CopingSkill, Disclosure, PatientProfile,
    Role, User, WeeklyGoal, db,
)

from .access import patient_in_reach, require_role
from .consent import (
    ConsentView, DisclosureEntry, consent_for_disclosure, consent_scope_text, consent_view, disclosure_entry,
    record_disclosure,
)
from .instruments import FREQUENCY_OPTIONS, INSTRUMENTS, Instrument, Item

FORMATS = ("json", "csv", "fhir")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "fhir": "application/fhir+json"}
EXTENSIONS = {"json": "json", "csv": "csv", "fhir": "fhir.json"}

# 42 CFR 2.32(a)(1) as revised by the 2024 final rule (89 FR 12472, Feb 16 2024).
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony "
    "that describes the information contained in this record, in any civil, criminal, "
    "administrative, or legislative proceedings by any Federal, State, or local authority, "
    "against the patient, unless authorized by the consent of the patient, except as provided at "
    "42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. In "
    "addition, the Federal rules prohibit you from making any other use or disclosure of this "
    "record unless at least one of the following applies: (i) Further use or disclosure is "
    "expressly permitted by the written consent of the individual whose information is being "
    "disclosed in this record or as otherwise permitted by 42 CFR part 2. (ii) You are a covered "
    "entity or business associate and have received the record for treatment, payment, or health "
    "care operations, or (iii) You have received the record from a covered entity or business "
    "associate as permitted by 45 CFR part 164, subparts A and E. A general authorization for the "
    "release of medical or other information is NOT sufficient to meet the required elements of "
    "written consent to further use or redisclose the record (see 42 CFR 2.31)."
)
OWN_COPY_CONTEXT = (
    "This is your own copy of your records, which you have the right to receive; giving it to "
    "you is not a disclosure under 42 CFR part 2. The notice is included so that it travels "
    "with the records if you choose to share them."
)
DISCLOSURE_CONTEXT = "Disclosed outside the program with the patient's written consent."

# --- FHIR vocabulary -----------------------------------------------------------

FHIR_BASE = "https://waypoint.example/fhir"
CHECKIN_SYSTEM = f"{FHIR_BASE}/CodeSystem/checkin"
SUBSTANCE_SYSTEM = f"{FHIR_BASE}/CodeSystem/substance"
TRIGGER_SYSTEM = f"{FHIR_BASE}/CodeSystem/trigger"
COPING_SKILL_SYSTEM = f"{FHIR_BASE}/CodeSystem/coping-skill"
SCORE_SYSTEM = f"{FHIR_BASE}/CodeSystem/questionnaire-score"
PATIENT_ID_SYSTEM = f"{FHIR_BASE}/sid/patient"
NOTICE_EXTENSION = f"{FHIR_BASE}/StructureDefinition/part2-redisclosure-notice"
CONSENT_EXTENSION = f"{FHIR_BASE}/StructureDefinition/disclosure-consent"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
SURVEY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "survey", "display": "Survey"}]}
# HL7 security labels: restricted, covered by 42 CFR Part 2, no redisclosure without consent.
SECURITY_LABELS = [
    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R",
     "display": "restricted"},
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"},
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NORDSCLCD",
     "display": "no redisclosure without consent directive"},
]

SLEEP_DURATION = (LOINC, "93832-4", "Sleep duration")
CHECKIN_CODES = {
    "panel": (CHECKIN_SYSTEM, "daily-checkin", "Daily recovery check-in"),
    "craving": (CHECKIN_SYSTEM, "craving", "Craving intensity, 0 (none) to 10 (strongest)"),
    "mood": (CHECKIN_SYSTEM, "mood", "Mood, 0 (worst) to 10 (best)"),
    "sleep_quality": (CHECKIN_SYSTEM, "sleep-quality", "Sleep quality rating, 1 to 5"),
    "used_substance": (CHECKIN_SYSTEM, "substance-use", "Substance use reported for the day"),
    "substance": (CHECKIN_SYSTEM, "substance", "Substance used"),
    "medication_taken": (CHECKIN_SYSTEM, "medication-taken",
                         "Medication for substance use disorder taken as prescribed"),
    "self_harm_thoughts": (CHECKIN_SYSTEM, "self-harm-thoughts", "Thoughts of self-harm reported"),
    "coping_skill": (CHECKIN_SYSTEM, "coping-skill", "Coping skill practised"),
    "trigger": (CHECKIN_SYSTEM, "trigger", "Trigger encountered"),
    "late": (CHECKIN_SYSTEM, "entered-late", "Entered after the day had ended"),
}

# LOINC codes for the instruments, in the order of their items.
LOINC_INSTRUMENTS = {
    "phq9": {
        "panel": "44249-1", "panel_display": "PHQ-9 quick depression assessment panel [Reported.PHQ]",
        "total": "44261-6",
        "total_display": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "items": ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
                  "44253-3", "44260-8"),
    },
    "gad7": {
        "panel": "69737-5", "panel_display": "Generalized anxiety disorder 7 item (GAD-7)",
        "total": "70274-6",
        "total_display": "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        "items": ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    },
}
# LOINC answer list for "Not at all" .. "Nearly every day" (PHQ-9 and GAD-7).
LOINC_FREQUENCY_ANSWERS = dict(zip(
    (option.value for option in FREQUENCY_OPTIONS), ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")))

_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, FHIR_BASE)


# --- what is exported ------------------------------------------------------------

@dataclass(frozen=True)
class PatientRecords:
    """Everything about one patient that an export can hold."""

    profile: PatientProfile
    checkins: list[Checkin]
    responses: list[AssessmentResponse]
    goals: list[WeeklyGoal]
    attendance: list[AttendanceRecord]
    coping_skill_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """One export: a JSON document (for the API schema), CSV text or a FHIR Bundle."""

    format: str
    content: Any
    filename: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class DisclosedRecords:
    """A disclosure outside the program: its accounting entry, the consent, the notice, the file."""

    disclosure: DisclosureEntry
    consent: ConsentView
    consent_scope: str
    export: Export
    notice: str = REDISCLOSURE_NOTICE


def load_records(profile: PatientProfile) -> PatientRecords:
    """Read every exportable record of one patient, oldest first."""
    patient_id = profile.user_id
    labels = dict(db.session.execute(
        select(CopingSkill.code, CopingSkill.label)
        .where(CopingSkill.organization_id == profile.user.organization_id)
    ).all())
    return PatientRecords(
        profile=profile,
        checkins=list(db.session.scalars(
            select(Checkin).where(Checkin.patient_id == patient_id).order_by(Checkin.day))),
        responses=list(db.session.scalars(
            select(AssessmentResponse).where(AssessmentResponse.patient_id == patient_id)
            .order_by(AssessmentResponse.submitted_at, AssessmentResponse.id))),
        goals=list(db.session.scalars(
            select(WeeklyGoal).where(WeeklyGoal.patient_id == patient_id)
            .order_by(WeeklyGoal.week_start, WeeklyGoal.id))),
        attendance=list(db.session.scalars(
            select(AttendanceRecord).where(AttendanceRecord.patient_id == patient_id)
            .order_by(AttendanceRecord.session_date, AttendanceRecord.id))),
        coping_skill_labels=labels,
    )


def export_own_records(patient: User, data_format: str, now: datetime) -> Export:
    """Export the caller's own records (the patient's right of access)."""
    records = load_records(patient.patient_profile)
    return build_export(records, data_format, now)


def disclose_records(actor: User, patient_id: int, consent_id: int, data_format: str,
                     now: datetime) -> DisclosedRecords:
    """Export a patient's records to someone outside the program, under an active consent.

    Nothing is built or logged unless the consent allows it; a disclosure
    that goes ahead is added to the patient's accounting of disclosures.
    """
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    consent = consent_for_disclosure(profile, consent_id, now)
    records = load_records(profile)
    disclosure = record_disclosure(actor, consent, data_format,
                                   describe_export(records, data_format), now)
    export = build_export(records, data_format, now, consent=consent, disclosure=disclosure)
    return DisclosedRecords(disclosure=disclosure_entry(disclosure, consent.recipient_kind, actor.display_name),
                            consent=consent_view(consent, now),
                            consent_scope=consent_scope_text(consent), export=export)


def build_export(records: PatientRecords, data_format: str, now: datetime,
                 consent: Consent | None = None, disclosure: Disclosure | None = None) -> Export:
    """Build one export of records in data_format (json, csv or fhir)."""
    if data_format == "json":
        content: Any = export_document(records, now, consent, disclosure)
    elif data_format == "csv":
        content = checkins_csv(records)
    elif data_format == "fhir":
        content = fhir_bundle(records, now, consent)
    else:
        raise ValueError(f"unknown export format {data_format!r}")
    filename = f"waypoint-records-{now.date().isoformat()}.{EXTENSIONS[data_format]}"
    return Export(format=data_format, content=content, filename=filename)


def describe_export(records: PatientRecords, data_format: str) -> str:
    """Say what an export holds, for the accounting of disclosures."""
    checkins = _count(len(records.checkins), "daily check-in")
    if records.checkins:
        checkins += f" ({records.checkins[0].day.isoformat()} to {records.checkins[-1].day.isoformat()})"
    if data_format == "csv":
        return f"CSV: {checkins}."
    by_instrument: dict[str, int] = {}
    for response in records.responses:
        by_instrument[response.instrument] = by_instrument.get(response.instrument, 0) + 1
    questionnaires = _count(len(records.responses), "questionnaire response")
    if by_instrument:
        questionnaires += " (" + ", ".join(
            f"{_instrument_short_name(code)} x{n}" for code, n in sorted(by_instrument.items())) + ")"
    if data_format == "fhir":
        return f"FHIR R4 Bundle: patient name, {checkins}, {questionnaires} with scores."
    return (f"JSON: profile, {checkins}, {questionnaires} with scores, "
            f"{_count(len(records.goals), 'weekly goal')}, "
            f"{_count(len(records.attendance), 'attendance record')}.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _instrument_short_name(code: str) -> str:
    return {"phq9": "PHQ-9", "gad7": "GAD-7", "bam": "BAM"}.get(code, code)


# --- JSON ------------------------------------------------------------------------------

def export_document(records: PatientRecords, now: datetime, consent: Consent | None = None,
                    disclosure: Disclosure | None = None) -> dict:
    """Return the JSON export as Python values (the API's schema writes it out)."""
    profile = records.profile
    user = profile.user
    patient = {
        "id": user.id, "display_name": user.display_name,
        "organization": user.organization.name,
        "program": profile.program.name if profile.program else None,
        "level_of_care": profile.level_of_care.value,
        "recovery_start_date": profile.recovery_start_date,
        "enrolled_at": profile.enrolled_at,
    }
    if consent is None:
        # Minimum necessary: the contact address and time zone are the
        # patient's own business, not an outside recipient's.
        patient.update(email=user.email, timezone=profile.timezone)
    document = {
        "generated_at": now,
        "notice": REDISCLOSURE_NOTICE,
        "notice_context": OWN_COPY_CONTEXT if consent is None else DISCLOSURE_CONTEXT,
        "patient": patient,
        "disclosure": None,
        "checkins": records.checkins,
        "questionnaires": [questionnaire_entry(response) for response in records.responses],
        "goals": records.goals,
        "attendance": records.attendance,
    }
    if consent is not None:
        document["disclosure"] = {
            "id": disclosure.id if disclosure else None,
            "disclosed_at": now,
            "recipient_name": consent.recipient_name,
            "recipient_kind": consent.recipient_kind,
            "purpose": consent.purpose,
            "consent_granted_at": consent.granted_at,
            "consent_expires_at": consent.expires_at,
            "consent_scope": consent_scope_text(consent),
        }
    return document


def questionnaire_entry(response: AssessmentResponse) -> dict:
    """Return one scored questionnaire with each answer's wording and points."""
    instrument = INSTRUMENTS.get(response.instrument)
    entry = {
        "id": response.id, "instrument": response.instrument,
        "name": instrument.name if instrument else response.instrument,
        "local_day": response.local_day, "submitted_at": response.submitted_at,
        "total": response.total, "band": None, "subscales": response.subscales or {},
        "item9": response.item9, "crisis": response.crisis, "items": [],
    }
    if instrument is None:
        entry["items"] = [{"id": item_id, "text": None, "answer": answer, "label": None, "points": None}
                          for item_id, answer in sorted(response.answers.items())]
        return entry
    band = next((b for b in instrument.bands if b.code == response.band), None)
    if band is not None:
        entry["band"] = {"code": band.code, "label": band.label}
    for item in instrument.items:
        if item.id not in response.answers:
            continue
        answer = response.answers[item.id]
        if item.is_multiple_choice:
            labels = {choice.code: choice.label for choice in item.choices}
            answer = list(answer or [])
            label: Any = [labels.get(code, code) for code in answer]
            points = None
        else:
            option = next((o for o in item.options if o.accepts(answer)), None)
            label = option.label if option else None
            points = option.points if option else None
        entry["items"].append({"id": item.id, "text": item.text, "answer": answer,
                               "label": label, "points": points})
    return entry


# --- CSV -------------------------------------------------------------------------------

CSV_COLUMNS = (
    "date", "craving", "mood", "sleep_hours", "sleep_quality", "used_substance", "substances",
    "coping_skills", "custom_coping_skills", "triggers", "medication_taken", "self_harm_thoughts",
    "note", "late", "recorded_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def checkins_csv(records: PatientRecords) -> str:
    """Return the check-ins as CSV text: a header, then one row per day, oldest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for checkin in records.checkins:
        writer.writerow((
            checkin.day.isoformat(), checkin.craving, checkin.mood, _number(checkin.sleep_hours),
            _blank(checkin.sleep_quality), _flag(checkin.used_substance),
            ";".join(checkin.substances or []), ";".join(checkin.coping_skills or []),
            ";".join(_text_cell(skill.replace(";", ",")) for skill in checkin.custom_coping_skills or []),
            ";".join(checkin.triggers or []), _flag(checkin.medication_taken),
            _flag(checkin.self_harm_thoughts), _text_cell(checkin.note or ""), _flag(checkin.late),
            checkin.updated_at.isoformat(timespec="seconds"),
        ))
    return out.getvalue()


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _blank(value) -> str:
    return "" if value is None else str(value)


def _number(value: float) -> str:
    return f"{value:g}"


def _text_cell(text: str) -> str:
    """Defuse free text a spreadsheet would run as a formula (OWASP's CSV injection advice)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


# --- FHIR R4 ---------------------------------------------------------------------------

def _id(key: str) -> str:
    """Return a stable UUID for one resource: the same records export to the same ids."""
    return str(uuid.uuid5(_UUID_NAMESPACE, key))


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(code: tuple[str, str, str]) -> dict:
    return {"coding": [_coding(*code)], "text": code[2]}


def _instant(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


class _Bundle:
    def __init__(self):
        self.entries: list[dict] = []

    def add(self, key: str, resource: dict) -> dict:
        """Add a resource under a stable id; return a reference to it."""
        resource_id = _id(key)
        self.entries.append({"fullUrl": f"urn:uuid:{resource_id}",
                             "resource": {"resourceType": resource.pop("resourceType"),
                                          "id": resource_id, **resource}})
        return {"reference": f"urn:uuid:{resource_id}"}


def fhir_bundle(records: PatientRecords, now: datetime, consent: Consent | None = None) -> dict:
    """Return the records as a FHIR R4 Bundle of type collection."""
    bundle = _Bundle()
    profile = records.profile
    patient = bundle.add(f"patient/{profile.user_id}", {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": str(profile.user_id)}],
        "name": [{"text": profile.user.display_name}],
        "managingOrganization": {"display": profile.user.organization.name},
    })
    for checkin in records.checkins:
        _add_checkin(bundle, checkin, patient, records.coping_skill_labels)
    questionnaires_added: set[str] = set()
    for response in records.responses:
        instrument = INSTRUMENTS.get(response.instrument)
        if instrument is None:
            continue
        if instrument.code not in questionnaires_added:
            bundle.add(f"questionnaire/{instrument.code}/{instrument.version}", questionnaire(instrument))
            questionnaires_added.add(instrument.code)
        _add_questionnaire_response(bundle, response, instrument, patient)
    extensions = [{"url": NOTICE_EXTENSION, "valueString": REDISCLOSURE_NOTICE}]
    if consent is not None:
        extensions.append({"url": CONSENT_EXTENSION, "valueString": consent_scope_text(consent)})
    return {
        "resourceType": "Bundle",
        "id": _id(f"bundle/{profile.user_id}/{_instant(now)}"),
        "meta": {"security": SECURITY_LABELS, "extension": extensions},
        "type": "collection",
        "timestamp": _instant(now),
        "entry": bundle.entries,
    }


def _add_checkin(bundle: _Bundle, checkin: Checkin, patient: dict, skill_labels: dict[str, str]) -> None:
    common = {"status": "final", "category": [SURVEY], "subject": patient,
              "effectiveDateTime": checkin.day.isoformat(), "issued": _instant(checkin.updated_at)}
    key = f"checkin/{checkin.id}"

    def observation(name: str, code: tuple[str, str, str], **value) -> dict:
        return bundle.add(f"{key}/{name}", {"resourceType": "Observation", **common,
                                            "code": _concept(code), **value})

    members = [
        observation("craving", CHECKIN_CODES["craving"], valueInteger=checkin.craving),
        observation("mood", CHECKIN_CODES["mood"], valueInteger=checkin.mood),
        observation("sleep_hours", SLEEP_DURATION, valueQuantity={
            "value": checkin.sleep_hours, "unit": "h", "system": UCUM, "code": "h"}),
    ]
    if checkin.sleep_quality is not None:
        members.append(observation("sleep_quality", CHECKIN_CODES["sleep_quality"],
                                   valueInteger=checkin.sleep_quality))
    use = {"valueBoolean": checkin.used_substance}
    if checkin.substances:
        use["component"] = [
            {"code": _concept(CHECKIN_CODES["substance"]),
             "valueCodeableConcept": {"coding": [_coding(SUBSTANCE_SYSTEM, substance)], "text": substance}}
            for substance in checkin.substances]
    members.append(observation("used_substance", CHECKIN_CODES["used_substance"], **use))
    for name in ("medication_taken", "self_harm_thoughts"):
        value = getattr(checkin, name)
        if value is not None:
            members.append(observation(name, CHECKIN_CODES[name], valueBoolean=value))

    components = [
        {"code": _concept(CHECKIN_CODES["coping_skill"]), "valueCodeableConcept": {
            "coding": [_coding(COPING_SKILL_SYSTEM, skill, skill_labels.get(skill))],
            "text": skill_labels.get(skill, skill)}}
        for skill in checkin.coping_skills or []]
    components += [
        {"code": _concept(CHECKIN_CODES["coping_skill"]), "valueCodeableConcept": {"text": skill}}
        for skill in checkin.custom_coping_skills or []]
    components += [
        {"code": _concept(CHECKIN_CODES["trigger"]),
         "valueCodeableConcept": {"coding": [_coding(TRIGGER_SYSTEM, trigger)], "text": trigger}}
        for trigger in checkin.triggers or []]
    if checkin.late:
        components.append({"code": _concept(CHECKIN_CODES["late"]), "valueBoolean": True})
    panel = {"resourceType": "Observation", **common, "code": _concept(CHECKIN_CODES["panel"]),
             "hasMember": members}
    if components:
        panel["component"] = components
    if checkin.note:
        panel["note"] = [{"text": checkin.note}]
    bundle.add(key, panel)


def questionnaire_url(instrument: Instrument) -> str:
    return f"{FHIR_BASE}/Questionnaire/{instrument.code}"


def _answer_system(instrument: Instrument, item: Item) -> str:
    kind = "choice" if item.is_multiple_choice else "answer"
    return f"{FHIR_BASE}/CodeSystem/{instrument.code}-{kind}"


def _answer_coding(instrument: Instrument, item: Item, value: int) -> dict:
    option = next(o for o in item.options if o.value == value)
    if instrument.code in LOINC_INSTRUMENTS:
        return _coding(LOINC, LOINC_FREQUENCY_ANSWERS[option.value], option.label)
    return _coding(_answer_system(instrument, item), str(option.value), option.label)


def _is_count(item: Item) -> bool:
    return any(option.up_to is not None for option in item.options)


def questionnaire(instrument: Instrument) -> dict:
    """Return the Questionnaire an instrument's responses answer, with LOINC codes where known."""
    loinc = LOINC_INSTRUMENTS.get(instrument.code)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire", "url": questionnaire_url(instrument),
        "version": instrument.version, "name": instrument.code.upper(), "title": instrument.name,
        "status": "active", "description": instrument.instructions, "item": [],
    }
    if loinc:
        resource["code"] = [_coding(LOINC, loinc["panel"], loinc["panel_display"])]
    for position, item in enumerate(instrument.items):
        entry: dict[str, Any] = {"linkId": item.id, "text": item.text, "required": item.required}
        if loinc:
            entry["code"] = [_coding(LOINC, loinc["items"][position])]
        if item.is_multiple_choice:
            entry.update(type="choice", repeats=True, answerOption=[
                {"valueCoding": _coding(_answer_system(instrument, item), choice.code, choice.label)}
                for choice in item.choices])
        elif _is_count(item):
            entry["type"] = "integer"
        else:
            entry.update(type="choice", answerOption=[
                {"extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.points}],
                 "valueCoding": _answer_coding(instrument, item, option.value)}
                for option in item.options])
        resource["item"].append(entry)
    return resource


def _add_questionnaire_response(bundle: _Bundle, response: AssessmentResponse, instrument: Instrument,
                                patient: dict) -> None:
    items = []
    for item in instrument.items:
        answer = response.answers.get(item.id)
        if answer is None or answer == []:
            continue
        if item.is_multiple_choice:
            labels = {choice.code: choice.label for choice in item.choices}
            answers = [{"valueCoding": _coding(_answer_system(instrument, item), code, labels.get(code))}
                       for code in answer]
        elif _is_count(item):
            answers = [{"valueInteger": answer}]
        else:
            answers = [{"valueCoding": _answer_coding(instrument, item, answer)}]
        items.append({"linkId": item.id, "text": item.text, "answer": answers})
    key = f"assessment/{response.id}"
    reference = bundle.add(key, {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire_url(instrument)}|{instrument.version}",
        "status": "completed", "subject": patient, "authored": _instant(response.submitted_at),
        "item": items,
    })
    common = {"status": "final", "category": [SURVEY], "subject": patient,
              "effectiveDateTime": _instant(response.submitted_at), "derivedFrom": [reference]}
    loinc = LOINC_INSTRUMENTS.get(instrument.code)
    if response.total is not None:
        if loinc:
            code = (LOINC, loinc["total"], loinc["total_display"])
        else:
            code = (SCORE_SYSTEM, f"{instrument.code}-total", f"{instrument.name} total score")
        total: dict[str, Any] = {"resourceType": "Observation", **common, "code": _concept(code),
                                 "valueInteger": response.total}
        band = next((b for b in instrument.bands if b.code == response.band), None)
        if band is not None:
            total["interpretation"] = [{"text": band.label}]
        bundle.add(f"{key}/total", total)
    for sub_code, subscale in sorted((response.subscales or {}).items()):
        code = (SCORE_SYSTEM, f"{instrument.code}-{sub_code}",
                f"{instrument.name}: {subscale['label']} subscale score")
        observation: dict[str, Any] = {"resourceType": "Observation", **common, "code": _concept(code),
                                       "valueInteger": subscale["score"]}
        if subscale.get("concern"):
            observation["interpretation"] = [{"text": "Past the clinical cut-off"}]
        bundle.add(f"{key}/{sub_code}", observation)
