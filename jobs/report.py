"""What one run of a job did, for the log and the CLI."""
from __future__ import annotations

from dataclasses import dataclass, field

from services.delivery import SendReport


@dataclass(frozen=True)
class JobReport:
    job: str
    newly_owed: int = 0  # ledger rows this run added
    send: SendReport | None = None  # None: the job sends no mail
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        if self.send is None:
            return {"job": self.job, **self.extra}
        return {"job": self.job, "newly_owed": self.newly_owed, **self.send.to_dict(), **self.extra}

    def line(self) -> str:
        figures = ", ".join(f"{key} {value}" for key, value in self.to_dict().items() if key != "job")
        return f"{self.job}: {figures}"
