"""Scoring of PHQ-9, GAD-7 and the Brief Addiction Monitor.

Expected values here are written out by hand from the published forms and the
Waypoint issue, never computed from ``services.instruments``, so a wrong table
in the module cannot make its own test pass.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.instruments import INSTRUMENTS
from services.scoring import (
    Change,
    InstrumentMismatch,
    InvalidAnswers,
    Score,
    UnknownInstrument,
    change,
    get_instrument,
    score,
    validate_answers,
)

# --- hand-written reference tables -------------------------------------------

PHQ9_ITEMS = [str(n) for n in range(1, 10)]
GAD7_ITEMS = [str(n) for n in range(1, 8)]
BAM_ITEMS = [str(n) for n in range(1, 18)]

BAM_SUBSCALE_ITEMS = {
    "use": ["4", "5", "6"],
    "risk": ["1", "2", "3", "8", "11", "15"],
    "protective": ["9", "10", "12", "13", "14", "16"],
}
BAM_DAY_ITEMS = {"2", "3", "4", "5", "6", "10", "11", "13", "16"}
BAM_RATING_ITEMS = {"1", "8", "9", "12", "15", "17"}
BAM_SUBSTANCES = [
    "marijuana", "sedatives", "cocaine", "stimulants", "opiates", "inhalants", "other"
]

# (days answered, points) at every edge of the brackets 0 / 1-3 / 4-8 / 9-15 / 16-30.
DAY_EDGES = [(0, 0), (1, 1), (3, 1), (4, 2), (8, 2), (9, 3), (15, 3), (16, 4), (30, 4)]
# The fewest days that score each number of points.
DAYS_FOR_POINTS = {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}


def reference_day_points(days):
    if days == 0:
        return 0
    if days <= 3:
        return 1
    if days <= 8:
        return 2
    if days <= 15:
        return 3
    return 4


def reference_bam_item_points(item_id, answer):
    if item_id in BAM_DAY_ITEMS:
        return reference_day_points(answer)
    if item_id == "14":
        return 4 if answer == 1 else 0
    return answer


def reference_phq9_band(total):
    if total <= 4:
        return "minimal"
    if total <= 9:
        return "mild"
    if total <= 14:
        return "moderate"
    if total <= 19:
        return "moderately_severe"
    return "severe"


def reference_gad7_band(total):
    if total <= 4:
        return "minimal"
    if total <= 9:
        return "mild"
    if total <= 14:
        return "moderate"
    return "severe"


# --- answer builders -----------------------------------------------------------


def zeros(item_ids):
    return dict.fromkeys(item_ids, 0)


def answers_totalling(item_ids, total, item_max=3):
    """Spread a total over the items, filling each to item_max in turn."""
    answers = zeros(item_ids)
    remaining = total
    for item_id in item_ids:
        answers[item_id] = min(item_max, remaining)
        remaining -= answers[item_id]
    assert remaining == 0, "total beyond the instrument's range"
    return answers


def bam_answers(**points_by_item):
    """A valid BAM response: every item at its lowest, except those given as points."""
    answers = zeros(i for i in BAM_ITEMS if i != "7")
    for key, points in points_by_item.items():
        item_id = key.removeprefix("item")
        if item_id in BAM_DAY_ITEMS:
            answers[item_id] = DAYS_FOR_POINTS[points]
        elif item_id == "14":
            answers[item_id] = {0: 0, 4: 1}[points]
        else:
            answers[item_id] = points
    return answers


def bam_answers_with_subscale(subscale, target):
    """Reach a subscale score on the 0-4 items, leaving item 14 (0 or 4 only) at No."""
    item_ids = [i for i in BAM_SUBSCALE_ITEMS[subscale] if i != "14"]
    points = answers_totalling(item_ids, target, item_max=4)
    return bam_answers(**{f"item{i}": p for i, p in points.items()})


def subscale_scores(result):
    return {code: sub.score for code, sub in result.subscales.items()}


# --- bands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_total_falls_in_its_band_at_every_edge(total, band):
    result = score("phq9", answers_totalling(PHQ9_ITEMS, total))

    assert result.total == total
    assert result.band.code == band


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_total_falls_in_its_band_at_every_edge(total, band):
    result = score("gad7", answers_totalling(GAD7_ITEMS, total))

    assert result.total == total
    assert result.band.code == band


def test_band_labels_are_readable():
    assert score("phq9", answers_totalling(PHQ9_ITEMS, 17)).band.label == "Moderately severe"
    assert score("gad7", answers_totalling(GAD7_ITEMS, 21)).band.label == "Severe"


@pytest.mark.parametrize("code", ["phq9", "gad7"])
def test_bands_cover_every_possible_total_exactly_once(code):
    instrument = INSTRUMENTS[code]
    low, high = instrument.total_range
    for total in range(low, high + 1):
        assert sum(band.contains(total) for band in instrument.bands) == 1, total


def test_bam_has_no_total_and_no_band():
    result = score("bam", bam_answers())

    assert result.total is None
    assert result.band is None


# --- every item counts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "item_id"),
    [("phq9", i) for i in PHQ9_ITEMS] + [("gad7", i) for i in GAD7_ITEMS],
)
@pytest.mark.parametrize("value", [1, 2, 3])
def test_raising_one_item_raises_the_total_by_exactly_that_much(code, item_id, value):
    item_ids = PHQ9_ITEMS if code == "phq9" else GAD7_ITEMS
    baseline = score(code, zeros(item_ids))
    raised = score(code, {**zeros(item_ids), item_id: value})

    assert raised.total - baseline.total == value
    assert raised.items == {**baseline.items, item_id: value}


@pytest.mark.parametrize(
    ("item_id", "subscale"),
    [(i, code) for code, items in BAM_SUBSCALE_ITEMS.items() for i in items],
)
def test_raising_one_bam_item_moves_only_its_own_subscale(item_id, subscale):
    # Heavy-drinking days may not exceed drinking days, so item 5 is raised with
    # item 4 already at its highest.
    base = {**bam_answers(), "4": 30} if item_id == "5" else bam_answers()
    if item_id in BAM_DAY_ITEMS:
        steps = DAY_EDGES
    elif item_id == "14":
        steps = [(0, 0), (1, 4)]
    else:
        steps = [(v, v) for v in range(5)]
    baseline = subscale_scores(score("bam", base))

    for answer, points in steps:
        raised = subscale_scores(score("bam", {**base, item_id: answer}))
        expected = {**baseline, subscale: baseline[subscale] + points}
        assert raised == expected, (item_id, answer)


@pytest.mark.parametrize(
    ("item_id", "answer"),
    [("7", ["opiates", "cocaine"]), ("17", 4)],
)
def test_bam_items_7_and_17_are_in_no_subscale(item_id, answer):
    base = bam_answers(item6=1)
    raised = score("bam", {**base, item_id: answer})

    assert subscale_scores(raised) == subscale_scores(score("bam", base))


def test_bam_item_17_is_still_reported_on_its_own():
    assert score("bam", bam_answers(item17=3)).items["17"] == 3


# --- BAM cut-offs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscale", "value", "concern"),
    [
        ("use", 0, False),
        ("use", 1, True),
        ("risk", 11, False),
        ("risk", 12, True),
        ("protective", 12, True),
        ("protective", 13, False),
    ],
)
def test_bam_subscale_cutoffs_at_their_edges(subscale, value, concern):
    result = score("bam", bam_answers_with_subscale(subscale, value))

    assert result.subscales[subscale].score == value
    assert result.subscales[subscale].concern is concern


def test_bam_protective_concern_is_cleared_by_income_alone_when_other_supports_are_high():
    # 9 points on four items plus Yes (4) on income = 13, just past the cut-off.
    answers = bam_answers(item9=3, item10=3, item12=3, item13=0, item16=0, item14=4)

    result = score("bam", answers)

    assert result.subscales["protective"].score == 13
    assert result.subscales["protective"].concern is False


def test_bam_subscale_ranges_are_the_published_ones():
    result = score("bam", bam_answers())

    assert {code: (s.low, s.high) for code, s in result.subscales.items()} == {
        "use": (0, 12),
        "risk": (0, 24),
        "protective": (0, 24),
    }


# --- PHQ-9 item 9 --------------------------------------------------------------------


@pytest.mark.parametrize(("item9", "crisis"), [(0, False), (1, True), (2, True), (3, True)])
def test_phq9_item9_above_zero_is_a_crisis_even_when_the_total_is_minimal(item9, crisis):
    result = score("phq9", {**zeros(PHQ9_ITEMS), "9": item9})

    assert result.crisis is crisis
    assert result.item9 == item9
    assert result.band.code == "minimal"


def test_phq9_severe_total_without_item9_is_not_a_crisis():
    result = score("phq9", {**answers_totalling(PHQ9_ITEMS[:8], 24), "9": 0})

    assert result.band.code == "severe"
    assert result.crisis is False
    assert result.item9 == 0


def test_phq9_item9_has_the_issue_wording():
    assert get_instrument("phq9").item("9").text == (
        "Thoughts that you would be better off dead, or of hurting yourself in some way"
    )


@pytest.mark.parametrize(
    ("code", "answers"),
    [("gad7", dict.fromkeys(GAD7_ITEMS, 3)), ("bam", bam_answers(item9=4))],
)
def test_only_phq9_reports_item9_and_crisis(code, answers):
    result = score(code, answers)

    assert result.crisis is False
    assert result.item9 is None


# --- validation ------------------------------------------------------------------------


def test_valid_answers_have_no_problems():
    assert validate_answers("phq9", zeros(PHQ9_ITEMS)) == {}
    assert validate_answers("bam", bam_answers()) == {}


def test_every_problem_is_reported_at_once():
    answers = {**zeros(PHQ9_ITEMS), "1": 4, "2": "2", "10": 1}
    del answers["3"]

    problems = validate_answers("phq9", answers)

    assert set(problems) == {"1", "2", "3", "10"}
    assert problems["1"] == [
        "must be one of 0 (Not at all), 1 (Several days), 2 (More than half the days), "
        "3 (Nearly every day)"
    ]
    assert problems["2"] == ["must be a whole number, not str"]
    assert problems["3"] == ["answer required"]
    assert problems["10"] == ["not an item of phq9"]


def test_score_refuses_invalid_answers_with_the_same_problems():
    answers = {**zeros(GAD7_ITEMS), "7": -1, "8": 0}

    with pytest.raises(InvalidAnswers) as raised:
        score("gad7", answers)

    assert raised.value.errors == validate_answers("gad7", answers)
    assert set(raised.value.errors) == {"7", "8"}
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None, [1]])
def test_answers_that_are_not_whole_numbers_are_refused(bad):
    problems = validate_answers("phq9", {**zeros(PHQ9_ITEMS), "4": bad})

    assert list(problems) == ["4"]


def test_empty_response_reports_every_item_missing():
    assert validate_answers("gad7", {}) == {i: ["answer required"] for i in GAD7_ITEMS}


def test_item_ids_must_be_strings():
    answers = {**zeros(PHQ9_ITEMS)}
    del answers["1"]
    answers[1] = 0

    problems = validate_answers("phq9", answers)

    assert problems == {
        "1": ["answer required", 'not an item of phq9 (item ids are strings such as "1")']
    }


def test_answers_must_be_a_mapping():
    assert validate_answers("phq9", [0] * 9) == {
        "_schema": ["answers must be an object of item id to answer"]
    }


@pytest.mark.parametrize(
    ("item_id", "answer"),
    [("4", 31), ("4", -1), ("1", 5), ("14", 4), ("14", 2), ("17", 5)],
)
def test_bam_answers_outside_the_items_options_are_refused(item_id, answer):
    problems = validate_answers("bam", {**bam_answers(), item_id: answer})

    assert list(problems) == [item_id]


def test_bam_day_items_take_a_count_of_days():
    problems = validate_answers("bam", {**bam_answers(), "2": 31})

    assert problems == {"2": ["must be a whole number from 0 to 30"]}


@pytest.mark.parametrize("absent", ["missing", None, []])
def test_bam_item7_is_optional(absent):
    answers = bam_answers(item6=2)
    if absent != "missing":
        answers["7"] = absent

    assert validate_answers("bam", answers) == {}


@pytest.mark.parametrize(
    "item7",
    ["opiates", ["opiates", "heroin"], ["opiates", "opiates"], [3]],
)
def test_bam_item7_takes_a_list_of_known_substance_codes(item7):
    problems = validate_answers("bam", {**bam_answers(item6=2), "7": item7})

    assert list(problems) == ["7"]


def test_bam_item7_accepts_every_substance_on_the_form():
    answers = {**bam_answers(item6=2), "7": BAM_SUBSTANCES}

    assert validate_answers("bam", answers) == {}


def test_bam_item7_naming_a_drug_needs_days_of_drug_use_in_item6():
    problems = validate_answers("bam", {**bam_answers(item6=0), "7": ["cocaine"]})

    assert problems == {"7": ["names a drug although item 6 reports no days of drug use"]}


def test_bam_heavy_drinking_days_cannot_exceed_drinking_days():
    answers = {**bam_answers(), "4": 5, "5": 6}

    assert list(validate_answers("bam", answers)) == ["5"]
    assert validate_answers("bam", {**answers, "5": 5}) == {}


def test_bam_reports_every_problem_at_once():
    answers = {**bam_answers(), "1": "good", "4": 40, "7": ["glue"], "18": 0}
    del answers["16"]

    assert set(validate_answers("bam", answers)) == {"1", "4", "7", "16", "18"}


def test_unknown_instrument_is_a_clear_error_not_a_key_error():
    with pytest.raises(UnknownInstrument) as raised:
        get_instrument("phq")
    with pytest.raises(UnknownInstrument):
        score("PHQ-9", {})

    assert not isinstance(raised.value, KeyError)
    assert "phq9" in str(raised.value)


# --- reliable change ---------------------------------------------------------------------


def total_score(code, total):
    item_ids = PHQ9_ITEMS if code == "phq9" else GAD7_ITEMS
    return score(code, answers_totalling(item_ids, total))


@pytest.mark.parametrize(
    ("code", "previous", "current", "verdict"),
    [
        ("phq9", 10, 15, "worsened"),
        ("phq9", 10, 14, "no reliable change"),
        ("phq9", 15, 10, "improved"),
        ("phq9", 15, 11, "no reliable change"),
        ("phq9", 12, 12, "no reliable change"),
        ("gad7", 8, 12, "worsened"),
        ("gad7", 8, 11, "no reliable change"),
        ("gad7", 12, 8, "improved"),
        ("gad7", 12, 9, "no reliable change"),
    ],
)
def test_reliable_change_counts_exactly_at_the_threshold_and_not_one_below(
    code, previous, current, verdict
):
    result = change(code, total_score(code, current), total_score(code, previous), None)

    assert result.from_previous == current - previous
    assert result.reliable_change_previous == verdict


def test_change_from_first_and_previous_are_separate():
    first, previous, current = (total_score("phq9", t) for t in (22, 14, 12))

    result = change("phq9", current, previous, first)

    assert result.from_previous == -2
    assert result.reliable_change_previous == "no reliable change"
    assert result.from_first == -10
    assert result.reliable_change_first == "improved"
    assert result.threshold == 5


def test_first_score_has_nothing_to_compare_with():
    result = change("gad7", total_score("gad7", 9), None, None)

    assert result.from_previous is None
    assert result.from_first is None
    assert result.reliable_change_previous is None
    assert result.reliable_change_first is None


def test_bam_change_gives_subscale_differences_without_a_reliability_verdict():
    first = score("bam", bam_answers(item4=4, item8=4))
    current = score("bam", bam_answers(item9=3, item8=1))

    result = change("bam", current, first, first)

    assert result.from_previous is None
    assert result.reliable_change_previous is None
    assert result.threshold is None
    assert result.subscales["use"].from_previous == -4
    assert result.subscales["risk"].from_first == -3
    assert result.subscales["protective"].from_previous == 3


def test_change_refuses_scores_from_another_instrument():
    with pytest.raises(InstrumentMismatch):
        change("phq9", total_score("phq9", 5), total_score("gad7", 5), None)


# --- serialisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "answers"),
    [
        ("phq9", answers_totalling(PHQ9_ITEMS, 16)),
        ("gad7", answers_totalling(GAD7_ITEMS, 6)),
        ("bam", {**bam_answers(item6=2, item11=3), "7": ["opiates"]}),
    ],
)
def test_score_and_change_serialise_to_json(code, answers):
    current = score(code, answers)
    result = change(code, current, current, current)

    assert json.loads(json.dumps(current.to_dict()))["instrument"] == code
    assert json.loads(json.dumps(result.to_dict()))["instrument"] == code
    assert json.dumps(get_instrument(code).to_dict())


def test_score_is_immutable():
    result = score("gad7", zeros(GAD7_ITEMS))

    with pytest.raises(AttributeError):
        result.total = 21  # type: ignore[misc]
    assert isinstance(result, Score)
    assert isinstance(change("gad7", result, None, None), Change)


def test_instruments_have_the_published_shape():
    assert [len(INSTRUMENTS[code].items) for code in ("phq9", "gad7", "bam")] == [9, 7, 17]
    assert INSTRUMENTS["phq9"].recall_period == "over the last 2 weeks"
    assert INSTRUMENTS["bam"].recall_period == "past 30 days"


# --- independent reference -----------------------------------------------------------------


def likert_answers(item_ids, top):
    return st.fixed_dictionaries({i: st.integers(0, top) for i in item_ids})


@st.composite
def bam_responses(draw):
    answers = {}
    for item_id in BAM_ITEMS:
        if item_id in BAM_DAY_ITEMS:
            answers[item_id] = draw(st.integers(0, 30))
        elif item_id in BAM_RATING_ITEMS:
            answers[item_id] = draw(st.integers(0, 4))
        elif item_id == "14":
            answers[item_id] = draw(st.sampled_from([0, 1]))
    answers["5"] = draw(st.integers(0, answers["4"]))
    if answers["6"] > 0:
        answers["7"] = draw(st.lists(st.sampled_from(BAM_SUBSTANCES), unique=True))
    return answers


@settings(max_examples=150, database=None, deadline=None)
@given(likert_answers(PHQ9_ITEMS, 3))
def test_phq9_matches_an_independent_sum(answers):
    result = score("phq9", answers)
    expected_total = sum(answers.values())

    assert result.total == expected_total
    assert result.band.code == reference_phq9_band(expected_total)
    assert result.crisis is (answers["9"] > 0)


@settings(max_examples=150, database=None, deadline=None)
@given(likert_answers(GAD7_ITEMS, 3))
def test_gad7_matches_an_independent_sum(answers):
    result = score("gad7", answers)
    expected_total = sum(answers.values())

    assert result.total == expected_total
    assert result.band.code == reference_gad7_band(expected_total)


@settings(max_examples=300, database=None, deadline=None)
@given(bam_responses())
def test_bam_matches_an_independent_sum_over_the_subscale_table(answers):
    result = score("bam", answers)
    expected = {
        code: sum(reference_bam_item_points(i, answers[i]) for i in items)
        for code, items in BAM_SUBSCALE_ITEMS.items()
    }

    assert subscale_scores(result) == expected
    assert result.subscales["use"].concern is (expected["use"] >= 1)
    assert result.subscales["risk"].concern is (expected["risk"] >= 12)
    assert result.subscales["protective"].concern is (expected["protective"] <= 12)
