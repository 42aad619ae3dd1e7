"""A patient's records as a file: JSON, CSV or a FHIR R4 Bundle; and disclosures outside the program.

What goes out
    * JSON, the whole record: the profile, every check-in, every
      questionnaire response with each answer's wording and points and the
      score as it was scored, weekly goals, and attendance (date, kind,
      status, hours; the clinician's note on a session stays with the
      program).
    * CSV: the check-ins only, one row per day, oldest first; list fields are
      joined with ";".
    * FHIR R4 Bundle: see services.fhir_export.

Every export carries the Part 2 redisclosure notice (services.redisclosure).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import AssessmentResponse, Consent, Disclosure, Role, User

from .access import own_profile, patient_in_reach, require_role
from .consent import (
    ConsentView,
    DisclosureEntry,
    consent_for_disclosure,
    consent_scope_text,
    consent_view,
    disclosure_entry,
    record_disclosure,
)
from .fhir_export import fhir_bundle
from .instruments import INSTRUMENTS
from .patient_records import PatientRecords, load_records
from .redisclosure import DISCLOSURE_CONTEXT, OWN_COPY_CONTEXT, REDISCLOSURE_NOTICE

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "fhir": "application/fhir+json"}
EXTENSIONS = {"json": "json", "csv": "csv", "fhir": "fhir.json"}


# --- what is exported ------------------------------------------------------------

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


def export_own_records(patient: User, data_format: str, now: datetime) -> Export:
    """Export the caller's own records (the patient's right of access)."""
    records = load_records(own_profile(patient))
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
                    disclosure: Disclosure | None = None) -> dict[str, Any]:
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


def questionnaire_entry(response: AssessmentResponse) -> dict[str, Any]:
    """Return one scored questionnaire with each answer's wording and points."""
    instrument = INSTRUMENTS.get(response.instrument)
    entry: dict[str, Any] = {
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


def _blank(value: object) -> str:
    return "" if value is None else str(value)


def _number(value: float) -> str:
    return f"{value:g}"


def _text_cell(text: str) -> str:
    """Defuse free text a spreadsheet would run as a formula (OWASP's CSV injection advice)."""
    return "'" + text if text.startswith(_FORMULA_START) else text
