"""Operator commands: `flask --app api users create ...`, `flask --app api seed-demo`, `flask --app api jobs ...`."""
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeVar, cast

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.local import LocalProxy

from models import Role, db, set_clock, utcnow
from services.accounts import create_staff_user, get_or_create_organization
from services.demo import DEMO_PASSWORD, seed_demo_clinic
from services.errors import DomainError
from services.summaries import week_start_of_period

# The jobs package (APScheduler and every job module) is imported inside the
# jobs commands only: at module level it would add about 0.25-0.45 s (15-20 %,
# `python -X importtime`) to every web worker and every other command, none
# of which runs a job.

Item = TypeVar("Item")

users = AppGroup("users", help="Manage staff accounts.")


@users.command("create")
@click.option("--role", type=click.Choice(["admin", "clinician"]), required=True)
@click.option("--org", "organization_name", required=True, help="Organization name (created if new).")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 12 characters, not common or guessable, not the e-mail.")
@click.option("--name", "display_name", default=None, help="Display name (defaults to the e-mail).")
def create_user(role: str, organization_name: str, email: str, password: str, display_name: str | None) -> None:
    """Create an admin or clinician account (non-interactive)."""
    try:
        organization = get_or_create_organization(organization_name)
        user = create_staff_user(organization, Role(role), email, password, display_name or email)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (error.errors or {}).items())
        raise click.ClickException(f"{error.detail} {details}".strip()) from None
    click.echo(f"Created {role} {user.email} (id {user.id}) in {organization.name}.")


@click.command("seed-demo")
@click.option("--patients", default=12, show_default=True, help="How many demo patients.")
@click.option("--days", default=90, show_default=True, help="Days of check-in history.")
def seed_demo(patients: int, days: int) -> None:
    """Fill an empty database with a demo clinic (prints the logins)."""

    def progress(items: Iterable[Item], label: str) -> Iterator[Item]:
        with click.progressbar(items, label=label) as bar:
            yield from bar

    summary = seed_demo_clinic(utcnow(), patients=patients, days=days, progress=progress)
    db.session.commit()
    if summary is None:
        click.echo("Demo data already present; nothing added.")
        return
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for role, email in summary.logins:
        click.echo(f"  {role:<10} {email}")


jobs_group = AppGroup("jobs", help="The scheduler process: weekly summaries, digests, reminders.")


@jobs_group.command("run")
def run_jobs() -> None:
    """Start the scheduler in this process (run it beside the API, never inside a web worker)."""
    from jobs.scheduler import run_forever  # only this command runs jobs (see the top of the module)

    click.echo("Scheduler running; Ctrl-C or SIGTERM stops it.")
    # current_app is typed as the app itself; the scheduler's threads need the real object behind the proxy.
    run_forever(cast("LocalProxy[Flask]", current_app)._get_current_object())


@jobs_group.command("run-once")
@click.argument("name")
@click.option("--week", default=None, metavar="YYYY-Www",
              help="The ISO week to send (weekly jobs), e.g. 2026-W47; default: the week just ended.")
@click.option("--now", "now_text", default=None, metavar="INSTANT",
              help="Act as if it were this instant (ISO 8601 with an offset), for previews.")
def run_job_once(name: str, week: str | None, now_text: str | None) -> None:
    """Run one job now: weekly-summaries, clinician-digests, daily-reminders, alerts-daily-pass."""
    from jobs.scheduler import declared_jobs, run_job  # only the jobs commands load jobs

    known = declared_jobs()
    if name not in known:
        raise click.BadParameter(f"choose one of {', '.join(known)}", param_hint="NAME")
    if week is not None:
        if not known[name].takes_week:
            raise click.BadParameter(f"{name} does not take a week", param_hint="--week")
        try:
            week_start_of_period(week)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--week") from None
    now = None
    if now_text is not None:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            raise click.BadParameter("use ISO 8601 with an offset, e.g. 2026-11-23T13:00:00Z", param_hint="--now")
        frozen = now
        set_clock(lambda: frozen)
    try:
        report = run_job(name, now, week)
    finally:
        if now is not None:
            set_clock(None)
    click.echo(report.line())
    if report.send is not None and report.send.transport_down:
        click.echo("The mail server could not be reached; what is owed stays in the ledger for the next run.",
                   err=True)


@jobs_group.command("list")
def list_jobs() -> None:
    """Show the declared jobs: id, interval, what each does."""
    from jobs.scheduler import declared_jobs  # only the jobs commands load jobs

    for job in declared_jobs().values():
        click.echo(f"{job.id:<20} every {job.every}  {job.description}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
    app.cli.add_command(jobs_group)
