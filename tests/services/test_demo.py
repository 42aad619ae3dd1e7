"""The demo clinic: who is in it, what its check-ins look like, and that it seeds once."""
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models import (
    Alert,
    AssessmentResponse,
    AttendanceRecord,
    AttendanceStatus,
    Base,
    CareTeamMember,
    Checkin,
    CheckinRevision,
    CopingSkill,
    LevelOfCare,
    Organization,
    PatientProfile,
    Program,
    Role,
    User,
    WeeklyGoal,
    db,
)
from schemas.checkin import CheckinContentSchema
from services.assessment_history import latest_scores
from services.checkins import content_of, normalise_content
from services.days import local_today
from services.demo import (
    DAY_PROGRAM,
    DEMO_ORGANIZATION,
    DEMO_PASSWORD,
    EVENING_IOP,
    DemoSummary,
    seed_demo_clinic,
)
from services.scoring import score
from services.sessions import authenticate
from services.trends import DayRecord, abstinence

ONE_DAY = timedelta(days=1)


def _patients() -> list[PatientProfile]:
    return list(db.session.scalars(
        select(PatientProfile).join(User, User.id == PatientProfile.user_id).order_by(User.id)
    ))


def _checkins() -> dict[int, list[Checkin]]:
    """Return every check-in, by patient id, oldest day first."""
    by_patient = defaultdict(list)
    for checkin in db.session.scalars(select(Checkin).order_by(Checkin.patient_id, Checkin.day)):
        by_patient[checkin.patient_id].append(checkin)
    return by_patient


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


def _today(profile: PatientProfile, now: datetime) -> date:
    return local_today(now, profile.timezone)


def test_seeding_creates_the_clinic_its_staff_and_patients(app, clock):
    summary = seed_demo_clinic(clock.now)

    assert isinstance(summary, DemoSummary)
    organization = db.session.scalars(select(Organization)).one()
    assert (organization.id, organization.name) == (summary.organization_id, DEMO_ORGANIZATION)
    assert {p.name for p in db.session.scalars(select(Program))} == {EVENING_IOP, DAY_PROGRAM}
    catalogue = db.session.scalars(select(CopingSkill.code)).all()
    assert "urge_surfing" in catalogue and len(catalogue) == 11
    by_role = Counter(db.session.scalars(select(User.role)))
    assert by_role == {Role.admin: 1, Role.clinician: 2, Role.patient: 12}
    emails = set(db.session.scalars(select(User.email)))
    assert {"admin@demo.waypoint", "dr.rivera@demo.waypoint", "j.okafor@demo.waypoint"} <= emails
    assert {f"patient{n}@demo.waypoint" for n in range(1, 13)} <= emails
    users = db.session.scalars(select(User)).all()
    assert all(user.password_hash and user.organization_id == organization.id for user in users)
    assert len({user.display_name for user in users}) == len(users)
    assert summary.patient_count == 12
    assert summary.checkin_count == db.session.scalar(select(func.count()).select_from(Checkin))
    assert summary.checkin_count == db.session.scalar(select(func.count()).select_from(CheckinRevision))
    assert summary.logins == [
        ("admin", "admin@demo.waypoint"),
        ("clinician", "dr.rivera@demo.waypoint"),
        ("clinician", "j.okafor@demo.waypoint"),
        ("patient", "patient1@demo.waypoint"),
        ("patient", "patient2@demo.waypoint"),
        ("patient", "patient3@demo.waypoint"),
    ]


def test_every_patient_has_a_care_team_and_each_clinician_a_caseload(app, clock):
    seed_demo_clinic(clock.now)

    members = db.session.scalars(select(CareTeamMember)).all()
    teams = defaultdict(set)
    for member in members:
        teams[member.patient_id].add(member.clinician_id)
    assert set(teams) == {profile.user_id for profile in _patients()}
    caseloads = Counter(member.clinician.email for member in members)
    assert set(caseloads) == {"dr.rivera@demo.waypoint", "j.okafor@demo.waypoint"}
    assert min(caseloads.values()) >= 5
    assert any(len(team) == 2 for team in teams.values())
    assert all(member.clinician.role is Role.clinician for member in members)


def test_profiles_vary_and_keep_their_level_of_care_history(app, clock):
    seed_demo_clinic(clock.now)
    programs = {p.id: p.name for p in db.session.scalars(select(Program))}

    profiles = _patients()
    zones = Counter(profile.timezone for profile in profiles)
    assert len(zones) >= 5 and {"Europe/London", "Asia/Kolkata"} <= set(zones)
    levels = Counter(profile.level_of_care for profile in profiles)
    assert levels[LevelOfCare.iop] > len(profiles) / 2
    assert levels[LevelOfCare.php] >= 1 and levels[LevelOfCare.outpatient] >= 1
    steps_up = 0
    for profile in profiles:
        history = profile.level_of_care_history
        enrolled_on = profile.enrolled_at.astimezone(ZoneInfo(profile.timezone)).date()
        assert (history[0].note, history[0].effective_date) == ("Enrolled", enrolled_on)
        assert history[-1].level_of_care is profile.level_of_care
        assert all(change.changed_at <= clock.now for change in history)
        steps_up += any(
            (before.level_of_care, after.level_of_care) == (LevelOfCare.iop, LevelOfCare.php)
            for before, after in pairwise(history)
        )
        assert profile.recovery_start_date <= enrolled_on
        expected_program = {LevelOfCare.iop: EVENING_IOP, LevelOfCare.php: DAY_PROGRAM}
        assert programs.get(profile.program_id) == expected_program.get(profile.level_of_care)
    assert steps_up >= 1


@pytest.mark.parametrize("now", [
    "2026-11-23T17:00:00+00:00",  # noon in New York, 22:30 in Kolkata
    "2026-11-23T03:30:00+00:00",  # still the 22nd in the Americas, the 23rd in London and Kolkata
    "2026-11-23T20:00:00+00:00",  # already the 24th in Kolkata
    "2026-03-09T06:30:00+00:00",  # the day after US clocks went forward
])
def test_checkins_are_one_per_local_day_never_ahead_and_as_the_api_stores_them(app, now):
    now = datetime.fromisoformat(now)
    seed_demo_clinic(now)
    schema = CheckinContentSchema()
    catalogue = set(db.session.scalars(select(CopingSkill.code)))
    revisions = defaultdict(list)
    for revision in db.session.scalars(select(CheckinRevision)):
        revisions[revision.checkin_id].append(revision)

    checkins = _checkins()
    for profile in _patients():
        days = [checkin.day for checkin in checkins[profile.user_id]]
        assert days and len(days) == len(set(days))
        assert max(days) <= _today(profile, now)
        enrolled_on = profile.enrolled_at.astimezone(ZoneInfo(profile.timezone)).date()
        assert min(days) >= enrolled_on
        for checkin in checkins[profile.user_id]:
            content = content_of(checkin)
            assert normalise_content(content) == content
            assert schema.validate(content) == {}, (checkin.day, content)
            assert set(content["coping_skills"]) <= catalogue
            assert bool(content["substances"]) <= content["used_substance"]
            assert content["sleep_quality"] is None or 1 <= content["sleep_quality"] <= 5
            (revision,) = revisions[checkin.id]
            assert (revision.version, revision.content) == (1, content)
            assert revision.recorded_by_id == profile.user_id
            assert checkin.version == 1
            assert revision.recorded_at == checkin.created_at == checkin.updated_at <= now
            written_on = checkin.created_at.astimezone(ZoneInfo(profile.timezone)).date()
            assert written_on >= checkin.day
            assert checkin.late == (written_on > checkin.day)


def test_histories_end_recently_and_everyone_skips_some_days(app, clock):
    seed_demo_clinic(clock.now)

    checkins = _checkins()
    recent = 0
    for profile in _patients():
        days = [checkin.day for checkin in checkins[profile.user_id]]
        today = _today(profile, clock.now)
        recent += max(days) >= today - ONE_DAY
        assert len(days) < (max(days) - min(days)).days + 1, profile.user.email
        assert (max(days) - min(days)).days >= 60
    assert recent >= 8
    late = [checkin.late for history in checkins.values() for checkin in history]
    assert 0 < sum(late) < len(late) / 10


def test_the_dashboards_have_improving_relapsing_and_quiet_patients(app, clock):
    seed_demo_clinic(clock.now)

    checkins = _checkins()
    recent_use, quiet, long_streaks, spikes, self_harm = [], [], [], [], []
    for profile in _patients():
        history = checkins[profile.user_id]
        today = _today(profile, clock.now)
        if any(c.used_substance and c.day > today - 14 * ONE_DAY for c in history):
            recent_use.append(profile.user_id)
        if max(c.day for c in history) <= today - 4 * ONE_DAY:
            quiet.append(profile.user_id)
        records = [
            DayRecord(c.day, c.craving, c.mood, c.sleep_hours, c.used_substance,
                      tuple(c.coping_skills), c.late)
            for c in history
        ]
        if abstinence(records, today, profile.recovery_start_date).current_streak >= 30:
            long_streaks.append(profile.user_id)
            first, last = history[:14], history[-14:]
            assert sum(c.craving for c in last) < sum(c.craving for c in first)
            assert sum(c.mood for c in last) > sum(c.mood for c in first)
        by_day = {c.day: c for c in history}
        if any(
            c.craving >= 8 and by_day.get(c.day + ONE_DAY) and by_day[c.day + ONE_DAY].craving >= 8
            for c in history if c.day > today - 14 * ONE_DAY
        ):
            spikes.append(profile.user_id)
        self_harm += [(profile.user_id, (today - c.day).days) for c in history if c.self_harm_thoughts]

    assert recent_use and quiet and long_streaks
    assert set(spikes) & set(recent_use)
    assert not set(long_streaks) & set(recent_use)
    (who, days_ago), = self_harm
    assert who in recent_use and days_ago >= 14


def test_the_demo_password_logs_in_every_listed_account(app, clock):
    summary = seed_demo_clinic(clock.now)

    for role, email in summary.logins:
        assert authenticate(email, DEMO_PASSWORD).user.role.value == role


def test_seeding_again_returns_none_and_adds_nothing(app, clock):
    assert seed_demo_clinic(clock.now) is not None
    db.session.commit()
    before = _row_counts()

    assert seed_demo_clinic(clock.now + timedelta(days=3)) is None
    assert _row_counts() == before


def test_the_same_now_gives_the_same_clinic(app, clock):
    def snapshot():
        summary = seed_demo_clinic(clock.now)
        emails = dict(db.session.execute(select(User.id, User.email)).all())
        people = sorted(
            (emails[p.user_id], p.user.display_name, p.timezone, p.level_of_care, p.recovery_start_date,
             sorted(m.clinician.email for m in p.care_team_members))
            for p in _patients()
        )
        days = sorted(
            (emails[c.patient_id], c.day, c.late, c.created_at, sorted(content_of(c).items(), key=str))
            for history in _checkins().values() for c in history
        )
        return summary.logins, summary.checkin_count, people, days

    first = snapshot()
    db.session.rollback()  # seeding only flushed: this leaves an empty database
    assert _row_counts()["users"] == 0
    assert snapshot() == first


@pytest.mark.parametrize(("patients", "days"), [(0, 0), (1, 1), (3, 7), (5, 20)])
def test_small_clinics_seed_what_fits(app, clock, patients, days):
    summary = seed_demo_clinic(clock.now, patients=patients, days=days)

    assert summary.patient_count == patients == len(_patients())
    assert summary.checkin_count == sum(len(h) for h in _checkins().values())
    assert summary.checkin_count <= patients * (days + 1)
    assert len(summary.logins) == 3 + min(patients, 3)
    for profile in _patients():
        history = _checkins()[profile.user_id]
        assert all(c.day <= _today(profile, clock.now) for c in history)
        assert all(c.day > _today(profile, clock.now) - (days + 1) * ONE_DAY for c in history)


def test_negative_sizes_are_refused(app, clock):
    with pytest.raises(ValueError):
        seed_demo_clinic(clock.now, patients=-1)
    assert _row_counts()["organizations"] == 0


def test_progress_wraps_the_patient_loop(app, clock):
    seen = []

    def progress(items, label):
        seen.append(label)
        for item in items:
            seen.append(item)
            yield item

    seed_demo_clinic(clock.now, patients=4, days=10, progress=progress)

    assert isinstance(seen[0], str) and len(seen) == 1 + 4


def test_seed_demo_command_commits_and_prints_the_logins(app, clock):
    runner = app.test_cli_runner()

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output
    for email in ("admin@demo.waypoint", "dr.rivera@demo.waypoint", "j.okafor@demo.waypoint",
                  "patient1@demo.waypoint", "patient3@demo.waypoint"):
        assert email in result.output
    db.session.rollback()  # what the command committed stays
    assert _row_counts()["patient_profiles"] == 12
    assert _row_counts()["checkins"] > 12 * 60

    again = runner.invoke(args=["seed-demo"])

    assert again.exit_code == 0, again.output
    assert "already present" in again.output
    assert _row_counts()["patient_profiles"] == 12


def test_the_demo_fills_questionnaires_goals_and_attendance_to_match_each_story(app, clock):
    seed_demo_clinic(clock.now)
    patients = {u.email: u for u in db.session.scalars(select(User).where(User.role == Role.patient))}
    improving, relapsing = patients["patient1@demo.waypoint"], patients["patient2@demo.waypoint"]

    latest = latest_scores([improving.id, relapsing.id])
    assert latest[improving.id]["phq9"]["change"]["from_first"] <= -5  # reliably better
    assert latest[relapsing.id]["phq9"]["total"] > latest[improving.id]["phq9"]["total"]
    for response in db.session.scalars(select(AssessmentResponse)):
        if response.instrument == "phq9":
            assert response.item9 == 0  # the demo never answers the self-harm item
        assert response.total == score(response.instrument, response.answers).total
        assert response.local_day <= clock.now.date()
    assert db.session.scalar(select(func.count()).select_from(WeeklyGoal)) >= 24
    missed = {r.patient_id for r in db.session.scalars(select(AttendanceRecord).where(
        AttendanceRecord.status == AttendanceStatus.missed))}
    assert relapsing.id in missed
    assert all(r.session_date < clock.now.date() for r in db.session.scalars(select(AttendanceRecord)))


def test_the_alert_inbox_starts_as_the_rules_would_have_left_it(app, clock):
    seed_demo_clinic(clock.now)

    alerts = list(db.session.scalars(select(Alert)))
    assert Counter(alert.rule for alert in alerts) == {
        "disengagement": 2, "substance_use": 3, "craving_spike": 3}
    week_ago = clock.now.date() - timedelta(days=7)
    for alert in alerts:
        if alert.rule == "substance_use":
            assert db.session.scalar(select(func.count()).select_from(Checkin).where(
                Checkin.patient_id == alert.patient_id, Checkin.used_substance.is_(True),
                Checkin.day >= week_ago))
