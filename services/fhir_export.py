"""A patient's records as a FHIR R4 Bundle (type collection).

What goes in
    A Patient (the display name and the Waypoint id, nothing more: no
    e-mail, no time zone), the check-ins as Observations, and each
    questionnaire as a QuestionnaireResponse with its Questionnaire and its
    scores as Observations. Goals and attendance are in the JSON export only.
    The Bundle carries the Part 2 security labels and redisclosure notice.

Codes
    LOINC only where the code is certain: 93832-4 Sleep duration; the PHQ-9
    panel 44249-1, its items 44250-9 ... 44260-8 and total 44261-6; the GAD-7
    panel 69737-5, its items 69725-0 ... 69736-7 and total 70274-6; the
    answers "Not at all" .. "Nearly every day" LA6568-5, LA6569-3, LA6570-1,
    LA6571-9. Everything else (craving, mood, sleep quality, use,
    medication, self-harm thoughts, coping skills, triggers, the BAM and its
    subscales) uses Waypoint's own code systems under FHIR_BASE: no LOINC
    code is made up. Questionnaires carry Waypoint's canonical URLs, with the
    LOINC panel and item codes on the Questionnaire for PHQ-9 and GAD-7.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypedDict

from models import AssessmentResponse, Checkin, Consent

from .consent import consent_scope_text
from .instrument_parts import Instrument, Item
from .instruments import FREQUENCY_OPTIONS, INSTRUMENTS
from .patient_records import PatientRecords
from .redisclosure import REDISCLOSURE_NOTICE

# A FHIR resource or element as JSON values; a code as (system, code, display).
Resource = dict[str, Any]
Code = tuple[str, str, str]


class LoincCodes(TypedDict):
    """An instrument's LOINC panel, total score and items (in the order of its items)."""

    panel: str
    panel_display: str
    total: str
    total_display: str
    items: tuple[str, ...]


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
CHECKIN_CODES: dict[str, Code] = {
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
LOINC_INSTRUMENTS: dict[str, LoincCodes] = {
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
    (option.value for option in FREQUENCY_OPTIONS), ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"),
    strict=True))

_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, FHIR_BASE)


# --- FHIR R4 ---------------------------------------------------------------------------

def _id(key: str) -> str:
    """Return a stable UUID for one resource: the same records export to the same ids."""
    return str(uuid.uuid5(_UUID_NAMESPACE, key))


def _coding(system: str, code: str, display: str | None = None) -> Resource:
    coding: Resource = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(code: Code) -> Resource:
    return {"coding": [_coding(*code)], "text": code[2]}


def _instant(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


class _Bundle:
    """The entries of a Bundle being built."""

    def __init__(self) -> None:
        self.entries: list[Resource] = []

    def add(self, key: str, resource: Resource) -> Resource:
        """Add a resource under a stable id; return a reference to it."""
        resource_id = _id(key)
        self.entries.append({"fullUrl": f"urn:uuid:{resource_id}",
                             "resource": {"resourceType": resource.pop("resourceType"),
                                          "id": resource_id, **resource}})
        return {"reference": f"urn:uuid:{resource_id}"}


def fhir_bundle(records: PatientRecords, now: datetime, consent: Consent | None = None) -> Resource:
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


def _add_checkin(bundle: _Bundle, checkin: Checkin, patient: Resource, skill_labels: dict[str, str]) -> None:
    common: Resource = {"status": "final", "category": [SURVEY], "subject": patient,
              "effectiveDateTime": checkin.day.isoformat(), "issued": _instant(checkin.updated_at)}
    key = f"checkin/{checkin.id}"

    def observation(name: str, code: Code, **value: Any) -> Resource:
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
    use: Resource = {"valueBoolean": checkin.used_substance}
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

    components: list[Resource] = [
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
    panel: Resource = {"resourceType": "Observation", **common, "code": _concept(CHECKIN_CODES["panel"]),
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


def _answer_coding(instrument: Instrument, item: Item, value: int) -> Resource:
    option = next(o for o in item.options if o.value == value)
    if instrument.code in LOINC_INSTRUMENTS:
        return _coding(LOINC, LOINC_FREQUENCY_ANSWERS[option.value], option.label)
    return _coding(_answer_system(instrument, item), str(option.value), option.label)


def _is_count(item: Item) -> bool:
    return any(option.up_to is not None for option in item.options)


def questionnaire(instrument: Instrument) -> Resource:
    """Return the Questionnaire an instrument's responses answer, with LOINC codes where known."""
    loinc = LOINC_INSTRUMENTS.get(instrument.code)
    resource: Resource = {
        "resourceType": "Questionnaire", "url": questionnaire_url(instrument),
        "version": instrument.version, "name": instrument.code.upper(), "title": instrument.name,
        "status": "active", "description": instrument.instructions, "item": [],
    }
    if loinc:
        resource["code"] = [_coding(LOINC, loinc["panel"], loinc["panel_display"])]
    for position, item in enumerate(instrument.items):
        entry: Resource = {"linkId": item.id, "text": item.text, "required": item.required}
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
                                patient: Resource) -> None:
    items: list[Resource] = []
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
    common: Resource = {"status": "final", "category": [SURVEY], "subject": patient,
              "effectiveDateTime": _instant(response.submitted_at), "derivedFrom": [reference]}
    loinc = LOINC_INSTRUMENTS.get(instrument.code)
    if response.total is not None:
        if loinc:
            code = (LOINC, loinc["total"], loinc["total_display"])
        else:
            code = (SCORE_SYSTEM, f"{instrument.code}-total", f"{instrument.name} total score")
        total: Resource = {"resourceType": "Observation", **common, "code": _concept(code),
                                 "valueInteger": response.total}
        band = next((b for b in instrument.bands if b.code == response.band), None)
        if band is not None:
            total["interpretation"] = [{"text": band.label}]
        bundle.add(f"{key}/total", total)
    for sub_code, subscale in sorted((response.subscales or {}).items()):
        code = (SCORE_SYSTEM, f"{instrument.code}-{sub_code}",
                f"{instrument.name}: {subscale['label']} subscale score")
        observation: Resource = {"resourceType": "Observation", **common, "code": _concept(code),
                                       "valueInteger": subscale["score"]}
        if subscale.get("concern"):
            observation["interpretation"] = [{"text": "Past the clinical cut-off"}]
        bundle.add(f"{key}/{sub_code}", observation)
