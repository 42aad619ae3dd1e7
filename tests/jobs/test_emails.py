"""Every e-mail renders, in HTML and text, for an empty, a great and a relapse week."""
import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from jobs.emails import (
    Links,
    render_clinician_digest,
    render_daily_reminder,
    render_weekly_notice,
    render_weekly_summary,
    week_label,
)
from services.clinician_digest import CaseloadPatient, build_clinician_digest
from services.redisclosure import REDISCLOSURE_NOTICE
from services.summaries import build_weekly_summary
from services.trends import DayRecord

W47 = date(2026, 11, 16)
LINKS = Links("https://app.example/summary?week=2026-W47", "https://app.example/settings",
              "https://app.example/api/v1/unsubscribe/TOKEN")


def days(first: int, count: int, **fields) -> list[DayRecord]:
    values = {"craving": 3, "mood": 6, "sleep_hours": 7.0, "used_substance": False, "coping_skills": ()}
    values.update(fields)
    return [DayRecord(W47 + timedelta(days=first + n), **values) for n in range(count)]


WEEKS = {
    "empty": days(-14, 7),
    "great": days(-7, 7, craving=5, mood=5) + days(0, 7, craving=1, mood=9, coping_skills=("urge_surfing",)),
    "relapse": days(-7, 7) + days(0, 3) + days(3, 2, craving=9, mood=2, used_substance=True),
}
# Figures a notice or a counts-only digest must never carry.
FIGURE = re.compile(r"\b(craving|mood|sleep|streak|abstinen|use reported|PHQ|GAD)\b", re.IGNORECASE)


class _Structure(HTMLParser):
    """Collect the tags, and fail on markup that does not close."""

    def __init__(self):
        super().__init__()
        self.tags, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in {"meta", "br", "img", "hr", "input"}:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def well_formed(html: str) -> list[str]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser.tags


def assert_mail_safe(html: str) -> None:
    tags = well_formed(html)
    # Gmail and Outlook drop SVG, scripts and style sheets; nothing may need fetching.
    assert not {"svg", "script", "style", "link", "img", "iframe"} & set(tags)
    assert "{{" not in html and "{%" not in html


def summary(kind: str):
    return build_weekly_summary(WEEKS[kind], W47, skill_labels={"urge_surfing": "Urge surfing"},
                                questionnaires_due=["Patient Health Questionnaire (PHQ-9)"])


@pytest.mark.parametrize("kind", list(WEEKS))
def test_the_detailed_summary_renders_every_kind_of_week(kind):
    rendered = render_weekly_summary(summary(kind), name="Maya Thompson", links=LINKS)
    assert_mail_safe(rendered.html)
    for part in (rendered.text, rendered.html):
        assert "Hi Maya," in part and "16\u201322 November 2026" in part
        assert LINKS.open in part and LINKS.unsubscribe in part and LINKS.preferences in part
        assert REDISCLOSURE_NOTICE in part  # it carries the patient's own data
        assert "988" in part
        assert "PHQ-9" in part
    assert rendered.subject == "Your Waypoint week, 16\u201322 November 2026"
    assert "Thompson" not in rendered.subject


def test_an_empty_week_says_so_and_draws_no_chart():
    rendered = render_weekly_summary(summary("empty"), name="Maya", links=LINKS)
    assert "0 of 7 days this week" in rendered.text
    assert "We didn't hear from you this week" in rendered.text
    assert "THIS WEEK AND LAST WEEK" not in rendered.text and "no check-in" not in rendered.text
    assert "This week and last week" not in rendered.html
    assert "Your streak starts again" in rendered.text


def test_a_great_week_shows_its_figures_and_bars():
    rendered = render_weekly_summary(summary("great"), name="Maya", links=LINKS)
    text = rendered.text
    assert "7 of 7 days this week" in text and "A strong week" in text
    assert "Craving: 1, down from 5 last week (better)" in text
    assert "Mood: 9, up from 5 last week (better)" in text
    assert "Current streak: 14 days" in text
    assert "No use on any of the 7 days you checked in." in text
    assert "Urge surfing (7)" in text
    assert "Mon 16    #########.  9  #.........  1  7 h" in text
    # The bars are table cells with a width and a colour: mood 9 of 10 on an 80-pixel bar.
    assert 'width="72" height="10" bgcolor="#2f9e6b"' in rendered.html


def test_a_relapse_week_is_told_gently():
    rendered = render_weekly_summary(summary("relapse"), name="Maya", links=LINKS)
    text = rendered.text
    assert "This week had some hard days" in text and "A strong week" not in text
    assert "You reported use on 2 of the 5 days you checked in." in text
    assert "Your streak starts again with your next day without use." in text
    assert "use reported" in text
    assert text.index("988") < text.index("CHECK-INS")  # the crisis line comes first on a hard week
    assert "Craving: 5.4, up from 3 last week (harder)" in text


@pytest.mark.parametrize("kind", list(WEEKS))
def test_the_notice_carries_a_link_and_no_figures(kind):
    rendered = render_weekly_notice("2026-W47", W47, W47 + timedelta(days=6), name="Maya Thompson", links=LINKS)
    assert_mail_safe(rendered.html)
    for part in (rendered.text, rendered.html):
        assert "Your weekly summary for 16\u201322 November 2026 is ready" in part
        assert LINKS.open in part and LINKS.unsubscribe in part
        assert not FIGURE.search(part), FIGURE.search(part)
        assert REDISCLOSURE_NOTICE not in part
    assert rendered.subject == "Your weekly summary is ready"


def caseload(kind: str) -> list[CaseloadPatient]:
    return [
        CaseloadPatient(11, "Maya Thompson", WEEKS[kind], W47 - timedelta(days=30), 2, 1),
        CaseloadPatient(12, "Daniel <b>Nguyen</b>", WEEKS["great"], W47 - timedelta(days=30)),
    ]


@pytest.mark.parametrize("kind", list(WEEKS))
def test_the_clinician_digest_carries_counts_and_no_name_or_score_by_default(kind):
    digest = build_clinician_digest(W47, caseload(kind))
    rendered = render_clinician_digest(digest, name="Elena Rivera", links=LINKS)
    assert_mail_safe(rendered.html)
    for part in (rendered.text, rendered.html):
        assert "Hi Elena Rivera," in part and "2 patients" in part
        assert "Maya" not in part and "Thompson" not in part and "Nguyen" not in part
        assert not re.search(r"craving \d|mood \d|\bmean\b", part, re.IGNORECASE)
        assert REDISCLOSURE_NOTICE not in part
        assert "Open alerts" in part and LINKS.open in part
    assert "Open alerts: 2, of which urgent: 1" in rendered.text
    assert "Thompson" not in rendered.subject


@pytest.mark.parametrize("kind", list(WEEKS))
def test_the_detailed_digest_names_patients_with_the_part2_notice(kind):
    digest = build_clinician_digest(W47, caseload(kind), detail=True)
    rendered = render_clinician_digest(digest, name="Elena Rivera", links=LINKS)
    assert_mail_safe(rendered.html)
    for part in (rendered.text, rendered.html):
        assert "Maya Thompson" in part and REDISCLOSURE_NOTICE in part
    assert "Daniel &lt;b&gt;Nguyen&lt;/b&gt;" in rendered.html  # names are escaped
    assert "<b>Nguyen" not in rendered.html


def test_the_daily_reminder_carries_no_figures():
    rendered = render_daily_reminder(date(2026, 11, 23), name="Maya Thompson", links=LINKS)
    assert_mail_safe(rendered.html)
    for part in (rendered.text, rendered.html):
        assert "Hi Maya," in part and LINKS.open in part and LINKS.unsubscribe in part
        assert not FIGURE.search(part)


def test_week_labels_span_months_and_years():
    assert week_label(date(2026, 11, 30), date(2026, 12, 6)) == "30 November \u2013 6 December 2026"
    assert week_label(date(2026, 12, 28), date(2027, 1, 3)) == "28 December 2026 \u2013 3 January 2027"
