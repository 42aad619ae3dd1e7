"""`flask --app api jobs ...`: run one job now, for operators and previews."""
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from .support import ledger


@pytest.fixture
def outbox(tmp_path, monkeypatch):
    folder = tmp_path / "outbox"
    monkeypatch.setenv("OUTBOX_DIR", str(folder))
    return folder


def outbox_messages(folder):
    return [message_from_bytes(path.read_bytes(), policy=default_policy) for path in sorted(folder.glob("*.eml"))]


def test_run_once_sends_the_week_just_ended_into_the_outbox(app, enrol, clock, outbox):
    patient = enrol(weekly_summary="detailed")
    result = app.test_cli_runner().invoke(args=["jobs", "run-once", "weekly-summaries"])
    assert result.exit_code == 0, result.output
    assert "weekly-summaries: newly_owed 1, sent 1, retry 0, failed 0, skipped 0" in result.output
    [message] = outbox_messages(outbox)
    assert message["To"] == patient.email and message["Message-ID"] == ledger()[0].message_id
    again = app.test_cli_runner().invoke(args=["jobs", "run-once", "weekly-summaries"])
    assert "newly_owed 0, sent 0" in again.output and len(outbox_messages(outbox)) == 1


def test_run_once_takes_a_week_and_an_instant(app, enrol, clock, outbox):
    enrol()
    result = app.test_cli_runner().invoke(args=[
        "jobs", "run-once", "clinician-digests", "--week", "2026-W46", "--now", "2026-11-20T12:00:00Z"])
    assert result.exit_code == 0, result.output
    assert [(r.kind, r.period, r.status) for r in ledger()] == [("clinician_digest", "2026-W46", "sent")]


@pytest.mark.parametrize(("args", "complaint"), [
    (["no-such-job"], "choose one of weekly-summaries, clinician-digests, daily-reminders"),
    (["daily-reminders", "--week", "2026-W47"], "daily-reminders does not take a week"),
    (["weekly-summaries", "--week", "2026-47"], "not an ISO week"),
    (["weekly-summaries", "--now", "2026-11-23T12:00:00"], "ISO 8601 with an offset"),
    (["weekly-summaries", "--now", "Monday"], "ISO 8601 with an offset"),
])
def test_run_once_refuses_what_it_cannot_do(app, clock, args, complaint):
    result = app.test_cli_runner().invoke(args=["jobs", "run-once", *args])
    assert result.exit_code == 2 and complaint in result.output
    assert ledger() == []


def test_the_jobs_are_listed_with_their_ids(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    for job_id in ("weekly-summaries", "clinician-digests", "daily-reminders"):
        assert job_id in result.output
