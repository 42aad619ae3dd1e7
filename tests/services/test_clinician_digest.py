"""How each patient's week went, and the clinician's weekly digest that counts them (pure)."""
from datetime import timedelta

import pytest

from services.clinician_digest import CaseloadPatient, build_clinician_digest, patient_direction
from tests.services.test_summaries import W47, day, week


@pytest.mark.parametrize(("records", "expected"), [
    (week(-1, craving=6) + week(0, craving=3), "improved"),
    (week(-1, craving=3) + week(0, craving=6), "worsened"),
    (week(-1, mood=7) + week(0, mood=4), "worsened"),
    (week(-1) + week(0), "steady"),
    (week(-1) + week(0)[:2], None),  # two check-ins are too few to compare
    ([*week(-1), day(0, used=True)], "worsened"),  # use counts on any number of check-ins
    (week(-1, used=True) + week(0), "improved"),
    (week(-1, used=True) + week(0)[:1], None),  # silence is not improvement
    (week(-1, craving=3) + week(0, craving=8, mood=9), "worsened"),  # worse wins over better
])
def test_a_patients_week_went_better_or_worse(records, expected):
    assert patient_direction(records, W47 + timedelta(days=6)) == expected


def test_the_digest_counts_and_lists_nobody_unless_asked():
    enrolled = W47 - timedelta(days=60)
    caseload = [
        CaseloadPatient(1, "Ann Improving", week(-1, craving=6) + week(0, craving=2), enrolled, 1, 0),
        CaseloadPatient(2, "Bo Worsening", week(-1) + week(0, used=True), enrolled, 2, 1),
        CaseloadPatient(3, "Cy Quiet", week(-1) + week(0)[:3], enrolled),
        CaseloadPatient(4, "Di New", [], W47 + timedelta(days=10)),  # enrolled after the week
        CaseloadPatient(5, "Ed Never", [], enrolled),
    ]
    digest = build_clinician_digest(W47, caseload)
    assert (digest.patients, digest.improved, digest.worsened, digest.steady) == (4, 1, 1, 1)
    assert digest.too_few_checkins == 1 and digest.went_quiet == 2
    assert (digest.open_alerts, digest.urgent_alerts) == (3, 1)
    assert digest.detail is None
    detailed = build_clinician_digest(W47, caseload, detail=True)
    assert [row.display_name for row in detailed.detail] == ["Bo Worsening", "Ed Never", "Cy Quiet", "Ann Improving"]
    assert detailed.detail[0].days_used == 7 and detailed.detail[0].urgent_alerts == 1
