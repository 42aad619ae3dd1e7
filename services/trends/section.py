"""The whole Trends section of one patient on one day, built from the figures of the other modules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .abstinence import Abstinence, AdherenceFigure, abstinence, adherence
from .checkins import EarlierCheckins, Records, indexed, iso_day
from .coping import SkillCount, SkillEffect, coping_skill_frequency, what_helps
from .metrics import METRICS, MetricTrend, metric_trend


@dataclass(frozen=True)
class PatientTrends:
    """The whole Trends section for one patient on one day."""

    today: date
    recovery_start: date | None
    window_days: int
    last_checkin: date | None
    metrics: tuple[MetricTrend, ...]  # one per METRICS, in that order
    abstinence: Abstinence
    adherence_7: AdherenceFigure
    adherence: AdherenceFigure  # over window_days
    coping_skills: tuple[SkillCount, ...]  # over window_days
    what_helps: tuple[SkillEffect, ...]  # over 90 days

    def metric(self, name: str) -> MetricTrend:
        """Return the trend of the metric called ``name``."""
        for trend in self.metrics:
            if trend.metric == name:
                return trend
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "recovery_start": iso_day(self.recovery_start),
            "window_days": self.window_days,
            "last_checkin": iso_day(self.last_checkin),
            "metrics": {trend.metric: trend.to_dict() for trend in self.metrics},
            "abstinence": self.abstinence.to_dict(),
            "adherence_7": self.adherence_7.to_dict(),
            "adherence": self.adherence.to_dict(),
            "coping_skills": [count.to_dict() for count in self.coping_skills],
            "what_helps": [effect.to_dict() for effect in self.what_helps],
        }


def patient_trends(
    records: Records,
    today: date,
    recovery_start: date | None = None,
    window: int = 28,
    *,
    earlier: EarlierCheckins | None = None,
    in_treatment_since: date | None = None,
) -> PatientTrends:
    """Compute the whole Trends section for one patient.

    in_treatment_since (the day of enrolment) keeps the days before it, on
    which the patient had no app to check in with, out of PDA, adherence and
    missing days, except those they filled in late (see counting_start).
    """
    # Indexed once: every figure below takes the index in place of the records.
    checkins = indexed(records, today, earlier)
    return PatientTrends(
        today=today,
        recovery_start=recovery_start,
        window_days=window,
        last_checkin=checkins.last_day,
        metrics=tuple(
            metric_trend(checkins, metric, today, recovery_start=recovery_start, window=window, earlier=earlier,
                         in_treatment_since=in_treatment_since)
            for metric in METRICS
        ),
        abstinence=abstinence(checkins, today, recovery_start, earlier=earlier, in_treatment_since=in_treatment_since),
        adherence_7=adherence(checkins, today, 7, recovery_start=recovery_start, earlier=earlier,
                              in_treatment_since=in_treatment_since),
        adherence=adherence(checkins, today, window, recovery_start=recovery_start, earlier=earlier,
                            in_treatment_since=in_treatment_since),
        coping_skills=tuple(coping_skill_frequency(checkins, today, window, earlier=earlier)),
        what_helps=tuple(what_helps(checkins, today, 90, earlier=earlier)),
    )
