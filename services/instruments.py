"""The questionnaires Waypoint scores (PHQ-9, GAD-7, BAM), as data built from services.instrument_parts.

Nothing here computes a score; ``services.scoring`` reads these tables. Keeping
the instruments as plain frozen data lets the API serve the exact wording and
options it will score, and lets a reviewer check every number against the
published form in one place.

Sources
- PHQ-9: Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613.
- GAD-7: Spitzer, Kroenke, Williams & Löwe, Arch Intern Med 2006;166:1092-1097.
- BAM: Cacciola et al., J Subst Abuse Treat 2013;44:256-263, and the VA
  BAM manual (VISN 4 MIRECC / Philadelphia CESATE).
Bands, cut-offs and reliable-change thresholds follow the Waypoint issue,
which wins wherever it differs from a published form (see the BAM notes).
"""

from __future__ import annotations

from .instrument_parts import AtMostItem, Band, Choice, Instrument, Item, OnlyWhenItemPositive, Option, Subscale

__all__ = [
    "BAM",
    "FREQUENCY_OPTIONS",
    "GAD7",
    "INSTRUMENTS",
    "PHQ9",
    "UnknownInstrument",
    "get_instrument",
]


class UnknownInstrument(LookupError):
    """No instrument has this code."""

    def __init__(self, code: object) -> None:
        self.code = code
        known = ", ".join(sorted(INSTRUMENTS))
        super().__init__(f"unknown instrument {code!r} (known: {known})")


# --- PHQ-9 and GAD-7 -------------------------------------------------------

FREQUENCY_OPTIONS = (
    Option(0, "Not at all", 0),
    Option(1, "Several days", 1),
    Option(2, "More than half the days", 2),
    Option(3, "Nearly every day", 3),
)

_PHQ9_TEXTS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself "
    "or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite, "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    # Wording as given in the issue.
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
)

# The PHQ-9's closing "how difficult have these problems made it..." question
# is not part of the 0-27 score and is not in the issue, so it is left out.
PHQ9 = Instrument(
    code="phq9",
    name="Patient Health Questionnaire (PHQ-9)",
    version="1",
    recall_period="over the last 2 weeks",
    instructions=(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    ),
    items=tuple(
        Item(id=str(number), text=text, options=FREQUENCY_OPTIONS)
        for number, text in enumerate(_PHQ9_TEXTS, start=1)
    ),
    source="Kroenke K, Spitzer RL, Williams JBW. J Gen Intern Med 2001;16:606-613",
    total_range=(0, 27),
    bands=(
        Band("minimal", "Minimal", 0, 4),
        Band("mild", "Mild", 5, 9),
        Band("moderate", "Moderate", 10, 14),
        Band("moderately_severe", "Moderately severe", 15, 19),
        Band("severe", "Severe", 20, 27),
    ),
    reliable_change=5,
    crisis_items=("9",),
    reported_alone="9",
)

_GAD7_TEXTS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)

GAD7 = Instrument(
    code="gad7",
    name="Generalized Anxiety Disorder scale (GAD-7)",
    version="1",
    recall_period="over the last 2 weeks",
    instructions=(
        "Over the last 2 weeks, how often have you been bothered by the following problems?"
    ),
    items=tuple(
        Item(id=str(number), text=text, options=FREQUENCY_OPTIONS)
        for number, text in enumerate(_GAD7_TEXTS, start=1)
    ),
    source="Spitzer RL, Kroenke K, Williams JBW, Löwe B. Arch Intern Med 2006;166:1092-1097",
    total_range=(0, 21),
    bands=(
        Band("minimal", "Minimal", 0, 4),
        Band("mild", "Mild", 5, 9),
        Band("moderate", "Moderate", 10, 14),
        Band("severe", "Severe", 15, 21),
    ),
    reliable_change=4,
)


# --- Brief Addiction Monitor -------------------------------------------------
#
# What this table assumes, where the VA form and the issue differ or are silent
# (the issue wins):
# 1. Day-count items (2, 3, 4, 5, 6, 10, 11, 13, 16) take the number of days
#    (0-30) and score by the form's brackets 0 / 1-3 / 4-8 / 9-15 / 16-30 ->
#    0..4. The bracket's first day is each option's value, so a client showing
#    the five brackets sends 0, 1, 4, 9 or 16.
# 2. Rating items (8, 9, 12, 15, 17) take 0-4, Not at all .. Extremely.
#    Item 1 takes 0-4, Excellent .. Poor. Item 14 takes 0 (No) or 1 (Yes) and
#    scores Yes as 4, as on the form.
# 3. Item 7: the VA form asks days of use for each of seven drug classes
#    (7A-7G), unscored, as elaboration of item 6. The issue makes it a
#    multiple choice of substances, so it takes a list of the codes below. It
#    is optional (absent, None or [] all mean none named), since the form asks
#    it only after a non-zero item 6; naming a substance with item 6 at 0 is
#    reported as inconsistent.
# 4. Item 5 (heavy-drinking days) is always answered, 0 when item 4 is 0 (the
#    form's "skip to 6" is the client's to apply); it may not exceed item 4.
# 5. Direction: no BAM item is reverse-scored within its subscale. Use and
#    Risk items score more points for more trouble; Protective items (9, 10,
#    12, 13, 14, 16) and item 17 score more points for more support, so the
#    Protective sum runs opposite to Use and Risk (its concern is at <= 12).
#    Item 1's answer labels run best -> worst (Excellent = 0), the reverse of
#    the other rating items, which keeps it in the risk direction. Some vendors
#    reverse-score item 17; we do not, and it is in no subscale.
# 6. Cut-offs apply to the raw subscale sums as the issue states: Use >= 1,
#    Risk >= 12, Protective <= 12.
# 7. No total and no severity bands (the BAM has no validated summary score),
#    and no reliable-change threshold: none is published for the BAM, so
#    ``scoring.change`` reports subscale differences without calling them
#    reliable.


def _day_options(unit: str = "days") -> tuple[Option, ...]:
    return (
        Option(0, f"0 {unit}", 0),
        Option(1, f"1-3 {unit}", 1, up_to=3),
        Option(4, f"4-8 {unit}", 2, up_to=8),
        Option(9, f"9-15 {unit}", 3, up_to=15),
        Option(16, f"16-30 {unit}", 4, up_to=30),
    )


DAY_OPTIONS = _day_options()
NIGHT_OPTIONS = _day_options("nights")

EXTENT_OPTIONS = (
    Option(0, "Not at all", 0),
    Option(1, "Slightly", 1),
    Option(2, "Moderately", 2),
    Option(3, "Considerably", 3),
    Option(4, "Extremely", 4),
)

HEALTH_OPTIONS = (
    Option(0, "Excellent", 0),
    Option(1, "Very good", 1),
    Option(2, "Good", 2),
    Option(3, "Fair", 3),
    Option(4, "Poor", 4),
)

INCOME_OPTIONS = (
    Option(0, "No", 0),
    Option(1, "Yes", 4),
)

SUBSTANCE_CHOICES = (
    Choice("marijuana", "Marijuana (cannabis, pot, weed)"),
    Choice(
        "sedatives",
        'Sedatives/Tranquilizers (e.g., "benzos", Valium, Xanax, Ativan, Ambien, "barbs", '
        "Phenobarbital, downers, etc.)",
    ),
    Choice("cocaine", "Cocaine/Crack"),
    Choice(
        "stimulants",
        "Other Stimulants (e.g., amphetamine, methamphetamine, Dexedrine, Ritalin, Adderall, "
        '"speed", "crystal meth", "ice", etc.)',
    ),
    Choice(
        "opiates",
        "Opiates (e.g., Heroin, Morphine, Dilaudid, Demerol, Oxycontin, oxy, codeine "
        "(Tylenol 2,3,4), Percocet, Vicodin, Fentanyl, etc.)",
    ),
    Choice("inhalants", "Inhalants (glues/adhesives, nail polish remover, paint thinner, etc.)"),
    Choice(
        "other",
        "Other drugs (steroids, non-prescription sleep/diet pills, Benadryl, Ephedra, "
        "other over-the-counter/unknown medications)",
    ),
)

_PROTECTIVE = "Protective factor: more points mean more support for recovery."

BAM = Instrument(
    code="bam",
    name="Brief Addiction Monitor (BAM)",
    version="1",
    recall_period="past 30 days",
    instructions=(
        "These questions ask about the past 30 days, unless a question says otherwise."
    ),
    items=(
        Item("1", "In the past 30 days, would you say your physical health has been?",
             HEALTH_OPTIONS,
             note="Labels run Excellent (0) to Poor (4), so more points mean worse health."),
        Item("2", "In the past 30 days, how many nights did you have trouble falling asleep "
                  "or staying asleep?", NIGHT_OPTIONS),
        Item("3", "In the past 30 days, how many days have you felt depressed, anxious, angry "
                  "or very upset throughout most of the day?", DAY_OPTIONS),
        Item("4", "In the past 30 days, how many days did you drink ANY alcohol?", DAY_OPTIONS),
        Item("5", "In the past 30 days, how many days did you have at least 5 drinks (if you "
                  "are a man) or at least 4 drinks (if you are a woman)? [One drink is "
                  "considered one shot of hard liquor (1.5 oz.) or 12-ounce can/bottle of beer "
                  "or 5-ounce glass of wine.]", DAY_OPTIONS,
             note="Answer 0 when item 4 is 0; cannot exceed item 4."),
        Item("6", "In the past 30 days, how many days did you use any illegal/street drugs or "
                  "abuse any prescription medications?", DAY_OPTIONS),
        Item("7", "In the past 30 days, which of the following drugs did you use?",
             choices=SUBSTANCE_CHOICES, required=False,
             note="Unscored elaboration of item 6; the VA form asks days per drug class."),
        Item("8", "In the past 30 days, how much were you bothered by cravings or urges to "
                  "drink alcohol or use drugs?", EXTENT_OPTIONS),
        Item("9", "How confident are you in your ability to be completely abstinent (clean) "
                  "from alcohol and drugs in the next 30 days?", EXTENT_OPTIONS,
             higher_is_better=True, note=_PROTECTIVE),
        Item("10", "In the past 30 days, how many days did you attend self-help meetings like "
                   "AA or NA to support your recovery?", DAY_OPTIONS,
             higher_is_better=True, note=_PROTECTIVE),
        Item("11", "In the past 30 days, how many days were you in any situations or with any "
                   "people that might put you at an increased risk for using alcohol or drugs "
                   '(i.e., around risky "people, places or things")?', DAY_OPTIONS),
        Item("12", "Does your religion or spirituality help support your recovery?",
             EXTENT_OPTIONS, higher_is_better=True, note=_PROTECTIVE),
        Item("13", "In the past 30 days, how many days did you spend much of the time at work, "
                   "school, or doing volunteer work?", DAY_OPTIONS,
             higher_is_better=True, note=_PROTECTIVE),
        Item("14", "Do you have enough income (from legal sources) to pay for necessities such "
                   "as housing, transportation, food and clothing for yourself and your "
                   "dependents?", INCOME_OPTIONS,
             higher_is_better=True, note=_PROTECTIVE + " Yes scores 4."),
        Item("15", "In the past 30 days, how much have you been bothered by arguments or "
                   "problems getting along with any family members or friends?",
             EXTENT_OPTIONS),
        Item("16", "In the past 30 days, how many days were you in contact or spent time with "
                   "any family members or friends who are supportive of your recovery?",
             DAY_OPTIONS, higher_is_better=True, note=_PROTECTIVE),
        Item("17", "How satisfied are you with your progress toward achieving your recovery "
                   "goals?", EXTENT_OPTIONS, higher_is_better=True,
             note="In no subscale; reported on its own as the patient's view of progress."),
    ),
    source=(
        "Cacciola JS et al. J Subst Abuse Treat 2013;44:256-263; "
        "VA Brief Addiction Monitor manual (VISN 4 MIRECC)"
    ),
    subscales=(
        Subscale("use", "Use", ("4", "5", "6"), cutoff=1),
        Subscale("risk", "Risk factors", ("1", "2", "3", "8", "11", "15"), cutoff=12),
        Subscale("protective", "Protective factors", ("9", "10", "12", "13", "14", "16"),
                 cutoff=12, higher_is_better=True),
    ),
    consistency_rules=(
        AtMostItem("5", "4", "heavy-drinking days cannot be more than the days of any "
                             "drinking (item 4)"),
        OnlyWhenItemPositive("7", "6", "names a drug although item 6 reports no days of "
                                       "drug use"),
    ),
)


INSTRUMENTS: dict[str, Instrument] = {
    instrument.code: instrument for instrument in (PHQ9, GAD7, BAM)
}


def get_instrument(code: object) -> Instrument:
    """Return the instrument with this code, or raise UnknownInstrument."""
    try:
        return INSTRUMENTS[code]  # type: ignore[index]
    except (KeyError, TypeError):
        raise UnknownInstrument(code) from None
