"""The scheduler process and its jobs: scheduled e-mails and daily passes, never in a web worker.

``flask --app api jobs run`` starts the scheduler (jobs.scheduler);
``flask --app api jobs run-once NAME [--week 2026-W47]`` runs one job now.
Every job is a function ``(now=None, week=None) -> JobReport`` that pushes
nothing itself: its caller (the scheduler, the CLI, a test) provides the
app context, and the job commits per unit of work (models.transactions).
A job orchestrates: it asks services what is owed, loops, and commits; the
queries are the services' (services.scheduled_mail, services.organizations).
"""
