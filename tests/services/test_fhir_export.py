"""The FHIR R4 export, checked by a FHIR library and against the codes we are sure of.

Validation uses fhir.resources' R4B package (FHIR 4.3.0): fhir.resources
dropped its R4 (4.0.1) package in 7.0, and R4B changed none of the resources
used here (Bundle, Patient, Observation, Questionnaire,
QuestionnaireResponse). The library checks structure, cardinality, data
types, choice types and unknown elements, but not the codes of required
bindings; those few are checked here by hand.
"""
from datetime import date, datetime, timezone

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from services.fhir_export import LOINC, LOINC_INSTRUMENTS, fhir_bundle
from services.instruments import FREQUENCY_OPTIONS, INSTRUMENTS
from services.patient_records import load_records
from services.redisclosure import REDISCLOSURE_NOTICE
from tests.factories import assessment_response, create_consent, questionnaire_answers

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)
SUBMITTED = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)

# Every LOINC code the export may use, each checked against LOINC (see services.fhir_export).
KNOWN_LOINC = (
    {"93832-4", "LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"}
    | {code for codes in LOINC_INSTRUMENTS.values() for code in (codes["panel"], codes["total"], *codes["items"])}
)
# Required bindings that the library leaves unchecked.
REQUIRED_CODES = {
    "Observation.status": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                           "entered-in-error", "unknown"},
    "QuestionnaireResponse.status": {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    "Questionnaire.status": {"draft", "active", "retired", "unknown"},
    "Questionnaire.item.type": {"group", "display", "boolean", "decimal", "integer", "date", "dateTime",
                                "time", "string", "text", "url", "choice", "open-choice", "attachment",
                                "reference", "quantity"},
}


@pytest.fixture
def patient(make):
    # Named: a test reads the name in the export.
    return make.patient(name="Jordan Quill")


@pytest.fixture
def full_record(make, patient):
    """Two check-ins (one with every field), and a PHQ-9, a GAD-7 and a BAM."""
    make.checkin(patient, date(2026, 11, 21), craving=2, mood=7, sleep_hours=8.0, note=None,
                 coping_skills=[], triggers=[])
    make.checkin(patient, date(2026, 11, 22), craving=8, mood=3, sleep_hours=4.25, sleep_quality=2,
                 used_substance=True, substances=["alcohol", "cannabis"],
                 coping_skills=["urge_surfing", "journaling"], custom_coping_skills=["called my aunt"],
                 triggers=["stress", "loneliness"], medication_taken=True, self_harm_thoughts=False,
                 note="rough day after the party")
    assessment_response(patient, "phq9", questionnaire_answers("phq9", {"1": 2, "2": 3, "9": 1}, default=1),
                        SUBMITTED, date(2026, 11, 20))
    assessment_response(patient, "gad7", questionnaire_answers("gad7", default=2), SUBMITTED, date(2026, 11, 20))
    assessment_response(patient, "bam", questionnaire_answers(
        "bam", {"4": 2, "5": 1, "6": 5, "7": ["cocaine", "opiates"], "9": 3, "14": 1, "16": 20}),
        SUBMITTED, date(2026, 11, 20))
    return patient


def export(patient, consent=None) -> dict:
    return fhir_bundle(load_records(patient.patient_profile), NOW, consent)


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def by_code(bundle: dict, code: str) -> list[dict]:
    return [r for r in resources(bundle, "Observation") if r["code"]["coding"][0]["code"] == code]


def assert_valid_r4(bundle: dict) -> Bundle:
    """Parse the whole Bundle with fhir.resources; check what the library does not."""
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    for resource in resources(bundle):
        kind = resource["resourceType"]
        if f"{kind}.status" in REQUIRED_CODES:
            assert resource["status"] in REQUIRED_CODES[f"{kind}.status"], resource
        for item in resource.get("item", []) if kind == "Questionnaire" else []:
            assert item["type"] in REQUIRED_CODES["Questionnaire.item.type"], item
    return parsed


def references(value) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for v in value.values() for ref in references(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in references(v)]
    return []


def codings(value, system: str) -> list[str]:
    if isinstance(value, dict):
        found = [value["code"]] if value.get("system") == system and "code" in value else []
        return found + [code for v in value.values() for code in codings(v, system)]
    if isinstance(value, list):
        return [code for v in value for code in codings(v, system)]
    return []


# --- validity --------------------------------------------------------------------

def test_the_full_export_is_a_valid_fhir_bundle(full_record):
    bundle = export(full_record)

    parsed = assert_valid_r4(bundle)

    kinds = [entry.resource.get_resource_type() for entry in parsed.entry]
    assert kinds.count("Patient") == 1
    assert kinds.count("Questionnaire") == 3 and kinds.count("QuestionnaireResponse") == 3
    # Day 1: panel + craving, mood, sleep, use; day 2 adds sleep quality, medication, self-harm.
    # Scores: PHQ-9 total, GAD-7 total, 3 BAM subscales.
    assert kinds.count("Observation") == 5 + 8 + 2 + 3


def test_an_empty_record_is_a_valid_bundle_with_only_the_patient(patient):
    bundle = export(patient)

    assert_valid_r4(bundle)
    assert [r["resourceType"] for r in resources(bundle)] == ["Patient"]


def test_the_validator_would_catch_a_broken_export(full_record):
    """Guard: the library really refuses what is wrong, so the tests above would fail."""
    bundle = export(full_record)
    del by_code(bundle, "craving")[0]["status"]
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)

    bundle = export(full_record)
    by_code(bundle, "mood")[0]["valueBoolean"] = True  # a second value[x]
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)

    bundle = export(full_record)
    resources(bundle, "Patient")[0]["email"] = "x@example.org"  # no such element
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)


def test_every_reference_resolves_inside_the_bundle(full_record):
    bundle = export(full_record)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}

    assert len(full_urls) == len(bundle["entry"])
    assert set(references(bundle)) <= full_urls
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"


def test_the_same_records_export_to_the_same_ids(full_record):
    assert export(full_record) == export(full_record)


# --- content -------------------------------------------------------------------

def test_the_patient_resource_holds_the_minimum(full_record):
    [patient] = resources(export(full_record), "Patient")

    assert set(patient) == {"resourceType", "id", "identifier", "name", "managingOrganization"}
    assert patient["name"] == [{"text": "Jordan Quill"}]
    assert patient["identifier"][0]["value"] == str(full_record.id)
    assert full_record.email not in str(patient)


def test_sleep_is_loinc_sleep_duration_in_hours(full_record):
    sleep = by_code(export(full_record), "93832-4")

    assert [(s["effectiveDateTime"], s["valueQuantity"]) for s in sleep] == [
        ("2026-11-21", {"value": 8.0, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}),
        ("2026-11-22", {"value": 4.25, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}),
    ]
    assert sleep[0]["code"]["coding"][0] == {"system": LOINC, "code": "93832-4", "display": "Sleep duration"}


def test_a_check_in_is_a_panel_of_observations(full_record):
    bundle = export(full_record)
    [_, panel] = by_code(bundle, "daily-checkin")
    members = {ref["reference"] for ref in panel["hasMember"]}
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    values = {by_url[m]["code"]["coding"][0]["code"]: next(v for k, v in by_url[m].items() if k.startswith("value"))
              for m in members}
    assert values == {"craving": 8, "mood": 3, "93832-4": values["93832-4"], "sleep-quality": 2,
                      "substance-use": True, "medication-taken": True, "self-harm-thoughts": False}
    [use] = [by_url[m] for m in members if by_url[m]["code"]["coding"][0]["code"] == "substance-use"]
    assert [c["valueCodeableConcept"]["coding"][0]["code"] for c in use["component"]] == ["alcohol", "cannabis"]
    assert panel["note"] == [{"text": "rough day after the party"}]
    components = [(c["code"]["coding"][0]["code"], c["valueCodeableConcept"]["text"]) for c in panel["component"]]
    assert components == [
        ("coping-skill", "Journaling"), ("coping-skill", "Urge surfing"), ("coping-skill", "called my aunt"),
        ("trigger", "loneliness"), ("trigger", "stress")]
    assert all(o["subject"] == {"reference": f"urn:uuid:{resources(bundle, 'Patient')[0]['id']}"}
               for o in resources(bundle, "Observation"))


def test_no_loinc_code_is_made_up(full_record):
    bundle = export(full_record)

    used = set(codings(bundle, LOINC))
    assert used <= KNOWN_LOINC, used - KNOWN_LOINC
    assert {"93832-4", "44261-6", "70274-6", "44249-1", "69737-5"} <= used
    # Craving and mood have no LOINC code: they are Waypoint's own.
    assert by_code(bundle, "craving")[0]["code"]["coding"][0]["system"] == \
        "https://waypoint.example/fhir/CodeSystem/checkin"


def test_phq9_and_gad7_questionnaires_carry_the_loinc_panel_and_item_codes(full_record):
    questionnaires = {q["name"]: q for q in resources(export(full_record), "Questionnaire")}

    phq9 = questionnaires["PHQ9"]
    assert phq9["code"][0]["code"] == "44249-1"
    assert [(i["linkId"], i["code"][0]["code"]) for i in phq9["item"]] == list(zip(
        [str(n) for n in range(1, 10)],
        ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"],
        strict=True))
    assert [i["text"] for i in phq9["item"]] == [item.text for item in INSTRUMENTS["phq9"].items]
    assert [(o["valueCoding"]["code"], o["extension"][0]["valueDecimal"]) for o in phq9["item"][0]["answerOption"]] \
        == [("LA6568-5", 0), ("LA6569-3", 1), ("LA6570-1", 2), ("LA6571-9", 3)]
    gad7 = questionnaires["GAD7"]
    assert gad7["code"][0]["code"] == "69737-5"
    assert [i["code"][0]["code"] for i in gad7["item"]] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
    assert "code" not in questionnaires["BAM"]


def test_each_response_answers_its_questionnaire_with_its_options(full_record):
    bundle = export(full_record)
    questionnaires = {f"{q['url']}|{q['version']}": q for q in resources(bundle, "Questionnaire")}

    for response in resources(bundle, "QuestionnaireResponse"):
        questionnaire = questionnaires[response["questionnaire"]]
        items = {item["linkId"]: item for item in questionnaire["item"]}
        for answered in response["item"]:
            item = items[answered["linkId"]]
            assert answered["text"] == item["text"]
            for answer in answered["answer"]:
                if item["type"] == "choice":
                    assert answer["valueCoding"] in [o["valueCoding"] for o in item["answerOption"]]
                else:
                    assert isinstance(answer["valueInteger"], int)


def test_scores_are_observations_derived_from_their_response(full_record):
    bundle = export(full_record)
    [phq9_total] = by_code(bundle, "44261-6")
    [gad7_total] = by_code(bundle, "70274-6")
    bam = {o["code"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")
           if o["code"]["coding"][0]["code"].startswith("bam-")}

    assert (phq9_total["valueInteger"], phq9_total["interpretation"]) == (12, [{"text": "Moderate"}])
    assert (gad7_total["valueInteger"], gad7_total["interpretation"]) == (14, [{"text": "Moderate"}])
    assert phq9_total["effectiveDateTime"] == "2026-11-20T15:30:00+00:00"
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [source] = phq9_total["derivedFrom"]
    assert by_url[source["reference"]]["questionnaire"].endswith("/Questionnaire/phq9|1")
    assert {code: o["valueInteger"] for code, o in bam.items()} == {"bam-use": 4, "bam-risk": 0, "bam-protective": 11}
    assert bam["bam-use"]["interpretation"] == [{"text": "Past the clinical cut-off"}]


def test_the_bam_multiple_choice_answers_every_substance(full_record):
    [bam] = [r for r in resources(export(full_record), "QuestionnaireResponse") if "/bam|" in r["questionnaire"]]

    [item7] = [item for item in bam["item"] if item["linkId"] == "7"]
    assert [a["valueCoding"]["code"] for a in item7["answer"]] == ["cocaine", "opiates"]
    assert [a for item in bam["item"] if item["linkId"] == "6" for a in item["answer"]] == [{"valueInteger": 5}]


# --- the notice ------------------------------------------------------------------

def test_the_bundle_carries_the_part2_notice_and_security_labels(full_record):
    meta = export(full_record)["meta"]

    assert meta["extension"] == [{"url": "https://waypoint.example/fhir/StructureDefinition/part2-redisclosure-notice",
                                  "valueString": REDISCLOSURE_NOTICE}]
    assert {(label["system"].rsplit("/", 1)[1], label["code"]) for label in meta["security"]} == {
        ("v3-Confidentiality", "R"), ("v3-ActCode", "42CFRPart2"), ("v3-ActCode", "NORDSCLCD")}


def test_a_disclosed_bundle_also_explains_the_consent(full_record):
    consent = create_consent(full_record, recipient_name="Dr. Ana Rivera", purpose="Coordinate care",
                             expires_at=datetime(2027, 5, 1, tzinfo=timezone.utc))

    bundle = export(full_record, consent)

    assert_valid_r4(bundle)
    assert bundle["meta"]["extension"][1]["valueString"] == (
        "Disclosed with the patient's written consent of 2026-11-01 to Dr. Ana Rivera (physician) for this "
        "purpose: Coordinate care. The consent expires on 2027-05-01. The patient may revoke it at any time.")


@pytest.mark.parametrize("code", sorted(LOINC_INSTRUMENTS))
def test_the_loinc_tables_fit_the_instruments(code):
    instrument = INSTRUMENTS[code]

    assert len(LOINC_INSTRUMENTS[code]["items"]) == len(instrument.items)
    # The LA answer codes mean "Not at all" .. "Nearly every day", the options of every item.
    assert all(item.options == FREQUENCY_OPTIONS for item in instrument.items)
    assert [option.label for option in FREQUENCY_OPTIONS] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day"]


def test_the_notice_is_the_2024_wording_of_42_cfr_2_32(app):
    assert REDISCLOSURE_NOTICE.startswith(
        "This record which has been disclosed to you is protected by Federal confidentiality rules "
        "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony")
    for phrase in ("42 CFR 2.12(c)(5)", "42 CFR 2.64 or 2.65", "at least one of the following applies",
                   "covered entity or business associate", "45 CFR part 164, subparts A and E",
                   "NOT sufficient", "(see 42 CFR 2.31)"):
        assert phrase in REDISCLOSURE_NOTICE
