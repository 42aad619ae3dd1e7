"""Render the scheduled e-mails: a plain-text part and an HTML part from jobs/templates.

Charts are HTML tables with coloured cells (bgcolor and a fixed width), the
one kind of chart Gmail, Outlook and Apple Mail all draw: no SVG, no CSS
layout, no images to fetch. The text part draws the same bars with "#".

Subjects are neutral on purpose: a subject line shows on a lock screen.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.clinician_digest import ClinicianDigest
from services.redisclosure import REDISCLOSURE_NOTICE
from services.summaries import MetricWeek, WeeklySummary

TEMPLATES = Path(__file__).resolve().parent / "templates"
CRISIS_LINE = (
    "If you are in crisis or thinking about harming yourself, call or text 988 (Suicide & Crisis Lifeline), any time."
)
OWN_RECORD_LINE = (
    "This e-mail carries your own health information, sent to you at your request. It is "
    "protected by federal confidentiality rules (42 CFR part 2); the notice below travels with it "
    "in case you pass it on."
)
CARE_TEAM_LINE = "This e-mail carries patient information for the patient's care team only."

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


# Where the e-mails' buttons lead (the web app's pages).
PREFERENCES_PATH = "/settings/notifications"
CASELOAD_PATH = "/caseload"
CHECKIN_PATH = "/checkin"


def summary_path(period: str) -> str:
    """Return the path of the week page a weekly e-mail's button opens."""
    return f"/summary?week={period}"


@dataclass(frozen=True)
class Links:
    """Where an e-mail's buttons go."""

    open: str  # the summary, the caseload, today's check-in
    preferences: str
    unsubscribe: str


def week_label(start: date, end: date) -> str:
    """Return "16–22 November 2026" (or "30 November – 6 December 2026")."""
    if start.month == end.month:
        return f"{start.day}\u2013{end.day} {end:%B %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%B} \u2013 {end.day} {end:%B %Y}"
    return f"{start.day} {start:%B %Y} \u2013 {end.day} {end:%B %Y}"


def first_name(display_name: str) -> str:
    return (display_name or "").split(" ")[0] or "there"


def render_weekly_summary(summary: WeeklySummary, *, name: str, links: Links) -> Rendered:
    """Render a patient's detailed weekly summary: their own figures only."""
    context = dict(
        summary=summary, name=first_name(name), links=links, week=week_label(summary.week_start, summary.week_end),
        metric_lines=[_metric_line(m) for m in summary.metrics], crisis_line=CRISIS_LINE,
        notice=REDISCLOSURE_NOTICE, notice_intro=OWN_RECORD_LINE, bar=_text_bar,
    )
    return _render("weekly_summary", f"Your Waypoint week, {context['week']}", context)


def render_weekly_notice(period: str, start: date, end: date, *, name: str, links: Links) -> Rendered:
    """Render "your weekly summary is ready": a link, no figures."""
    context = dict(period=period, name=first_name(name), links=links, week=week_label(start, end))
    return _render("weekly_notice", "Your weekly summary is ready", context)


def render_clinician_digest(digest: ClinicianDigest, *, name: str, links: Links) -> Rendered:
    """Render a clinician's caseload digest: counts and a link; names only with detail on."""
    context = dict(
        digest=digest, name=name, links=links, week=week_label(digest.week_start, digest.week_end),
        notice=REDISCLOSURE_NOTICE, notice_intro=CARE_TEAM_LINE, bar=_text_bar,
    )
    subject = f"Your Waypoint caseload, week of {digest.week_start.day} {digest.week_start:%B}"
    return _render("clinician_digest", subject, context)


def render_daily_reminder(day: date, *, name: str, links: Links) -> Rendered:
    """Render the daily check-in reminder."""
    context = dict(day=day, name=first_name(name), links=links)
    return _render("daily_reminder", "A moment for today's check-in?", context)


def _render(template: str, subject: str, context: dict) -> Rendered:
    text = _environment.get_template(f"{template}.txt").render(**context)
    html = _environment.get_template(f"{template}.html").render(subject=subject, **context)
    return Rendered(subject, text, html)


def _metric_line(metric: MetricWeek) -> dict:
    """Describe one metric's week against the last, in words."""
    if metric.this_week is None:
        phrase = "no check-ins this week"
    elif metric.last_week is None:
        phrase = "no check-ins last week to compare with"
    elif metric.direction == "same":
        phrase = "about the same as last week"
    else:
        moved = "down" if (metric.change or 0) < 0 else "up"  # both weeks have check-ins here
        verdict = "better" if metric.direction == "better" else "harder"
        phrase = f"{moved} from {round(metric.last_week, 1):g} last week ({verdict})"
    scale = 12.0 if metric.metric == "sleep_hours" else 10.0
    return {"label": metric.label, "this_week": metric.this_week, "last_week": metric.last_week,
            "phrase": phrase, "direction": metric.direction, "scale": scale}


def _text_bar(value: float | None, scale: float = 10.0, width: int = 10) -> str:
    """Return a bar of "#" for the text part: "######...." for 6 of 10."""
    if value is None:
        return " " * width
    filled = max(0, min(width, round(width * value / scale)))
    return "#" * filled + "." * (width - filled)
