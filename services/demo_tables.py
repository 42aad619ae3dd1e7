"""The demo clinic's invented tables: archetypes, names, zones, habits, words and chances.

Data only; services.demo_patients turns it into each patient's story and
services.demo writes the stories to the database.
"""
from models import DEFAULT_COPING_SKILLS, LevelOfCare

# The clinic's pattern repeats every twelve patients: patient1 improves,
# patient2 relapses, patient3 is steady, so the first logins the CLI prints
# show three different stories.
ARCHETYPES = (
    "improving", "relapsing", "steady", "quiet", "improving", "steady",
    "relapsing", "improving", "steady", "quiet", "improving", "relapsing",
)
STEPS_UP = 1  # position in the pattern: relapsing, stepped up to the day program
STEPS_DOWN = 10  # improving, stepped down to outpatient
DAY_PROGRAM_FROM_START = 5  # steady, in the day program since enrolment
OUTPATIENT_FROM_START = 9  # quiet, standard outpatient since enrolment
REPORTS_SELF_HARM = 1  # the relapsing patient who once reported self-harm thoughts

# Eleven zones against a pattern of twelve, so zones and archetypes mix.
TIMEZONES = (
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/New_York",
    "America/Denver", "Europe/London", "America/New_York", "Asia/Kolkata",
    "America/Chicago", "America/Phoenix", "America/Los_Angeles",
)
FIRST_NAMES = (
    "Maya", "Daniel", "Priya", "Marcus", "Hannah", "Luis", "Aisha", "Connor", "Sofia",
    "Tyrone", "Emily", "Rafael", "Grace", "Owen", "Nadia", "Caleb", "Leah", "Andre",
    "Chloe", "Mateo", "Rachel", "Kevin", "Imani", "Ryan", "Zoe", "Samuel", "Lucia",
    "Dylan", "Fatima", "Ethan",
)
LAST_NAMES = (
    "Thompson", "Nguyen", "Patel", "Johnson", "Kowalski", "Garcia", "Bennett", "Hughes",
    "Morales", "Washington", "Sullivan", "Reyes", "Kim", "Fischer", "Brooks", "Alvarez",
    "Murphy", "Singh", "Carter", "Lopez", "Novak", "Foster", "Ramirez", "Coleman",
    "Walsh", "Ortiz", "Price", "Mendoza", "Harper", "Dixon",
)

SKILL_CODES = tuple(code for code, _label in DEFAULT_COPING_SKILLS)
# How often IOP patients report each skill; group attendance comes from the
# program's schedule instead, plus the odd community meeting.
SKILL_WEIGHTS = {
    "urge_surfing": 3.0, "trigger_planning": 2.0, "refusal_skills": 1.5,
    "distress_tolerance": 2.0, "mindfulness": 3.0, "reached_out": 3.0,
    "meeting_attended": 0.8, "exercise": 2.5, "healthy_routine": 2.5,
    "communication": 1.5, "journaling": 2.0,
}
TRIGGER_WEIGHTS = {
    "stress": 4.0, "conflict": 2.0, "people_places": 2.0, "boredom": 2.5,
    "loneliness": 2.5, "pain": 1.0, "night_cravings": 2.0, "fatigue": 2.0,
    "celebration": 0.7, "money": 1.5, "other": 0.5,
}
PRIMARY_SUBSTANCES = (
    ("alcohol", 4.0), ("opioids", 3.0), ("stimulants", 2.0), ("cannabis", 1.5),
    ("benzodiazepines", 1.0),
)
SECONDARY_SUBSTANCES = ("alcohol", "cannabis", "nicotine", "benzodiazepines")
CUSTOM_SKILLS = (
    "Walked the dog", "Played guitar", "Cooked a proper meal", "Prayer", "Cold shower",
    "Gardening", "Drew for an hour", "Called family",
)
NOTES = {
    "use": ("Slipped tonight.", "Used after a bad day.", "Not proud of today.",
            "Will talk to my counselor about it."),
    "hard": ("Rough day at work.", "Cravings in the evening.", "Felt on edge.",
             "Didn't sleep much.", "Argument at home.", "Lonely tonight.", "Hard day, got through it."),
    "good": ("Good group today.", "Felt steady.", "Went for a long walk.",
             "Good talk with my sponsor.", "Slept well for once.", "Proud of this week.", "Calm day."),
    "plain": ("Busy day.", "Tired.", "Ok day.", "Nothing special.", "Long shift.", "Errands and rest."),
}
# Weekdays with group: Evening IOP meets Mon/Tue/Thu, the day program every
# weekday, outpatient once a week.
GROUP_DAYS = {
    LevelOfCare.iop: frozenset({0, 1, 3}),
    LevelOfCare.php: frozenset({0, 1, 2, 3, 4}),
    LevelOfCare.outpatient: frozenset({2}),
}


# --- questionnaires, goals and attendance ------------------------------------------

SCORE_PATHS = {  # PHQ-9 total at enrolment and today; GAD-7 follows at about 3/4
    "improving": (16, 5), "relapsing": (8, 16), "steady": (8, 7), "quiet": (10, 12),
}
GOAL_TEXTS = (
    "Go to every group this week", "Call my sponsor twice", "Walk 20 minutes three times",
    "Lights out by 11 on weeknights", "Practise urge surfing when a craving hits",
    "Plan what to say if offered a drink", "Cook dinner at home four nights",
)
DONE_CHANCE = {"improving": 0.85, "relapsing": 0.35, "steady": 0.65, "quiet": 0.3}
MISS_CHANCE = {"improving": 0.05, "relapsing": 0.15, "steady": 0.1, "quiet": 0.2}
SESSION_HOURS = {LevelOfCare.iop: 3.0, LevelOfCare.php: 5.0, LevelOfCare.outpatient: 1.0}
