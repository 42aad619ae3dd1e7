"""Enumerations shared by models and schemas."""
import enum


class Role(str, enum.Enum):
    patient = "patient"
    clinician = "clinician"
    admin = "admin"


class LevelOfCare(str, enum.Enum):
    outpatient = "outpatient"
    iop = "iop"
    php = "php"


class SessionKind(str, enum.Enum):
    group = "group"
    individual = "individual"
    family = "family"


class AttendanceStatus(str, enum.Enum):
    attended = "attended"
    missed = "missed"
    excused = "excused"


class AlertSeverity(str, enum.Enum):
    urgent = "urgent"
    high = "high"
    medium = "medium"


class AlertStatus(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class ConsentScope(str, enum.Enum):
    # Part of enrolment: the care team at the patient's own program.
    care_team = "care_team"
    # Explicit, revocable consents for disclosure outside the program.
    outside_provider = "outside_provider"
    support_person = "support_person"


# Weekly treatment hours planned for each level of care: (minimum, maximum).
# IOP is 9-20 h a week by definition; PHP (day program) 20+; outpatient < 9.
PLANNED_WEEKLY_HOURS = {
    LevelOfCare.outpatient: (1, 9),
    LevelOfCare.iop: (9, 20),
    LevelOfCare.php: (20, 35),
}


# Fixed vocabularies: a closed list keeps free text (and so stray identifying
# detail) out of fields that are meant to be counted.
SUBSTANCES = (
    "alcohol", "opioids", "stimulants", "cannabis", "benzodiazepines",
    "nicotine", "sedatives", "hallucinogens", "other",
)
TRIGGERS = (
    "stress", "conflict", "people_places", "boredom", "loneliness", "pain",
    "night_cravings", "fatigue", "celebration", "money", "other",
)
# The coping skills IOPs teach; every new organization's catalogue starts here.
DEFAULT_COPING_SKILLS = (
    ("urge_surfing", "Urge surfing"),
    ("trigger_planning", "Trigger planning"),
    ("refusal_skills", "Refusal skills"),
    ("distress_tolerance", "Distress tolerance"),
    ("mindfulness", "Mindfulness / grounding"),
    ("reached_out", "Reached out to a sober support"),
    ("meeting_attended", "Meeting or group attended"),
    ("exercise", "Exercise / movement"),
    ("healthy_routine", "Healthy routine"),
    ("communication", "Communication and boundaries"),
    ("journaling", "Journaling"),
)
