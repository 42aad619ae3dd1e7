"""What a run measures with, and the targets its figures must reach."""
import statistics
from dataclasses import dataclass

# Throughput ratios are against the bare app (bench/bare.py) in the same run.
TARGETS = {
    "floor": ("ratio", ">=", 0.25), "P1": ("ratio", ">=", 0.20), "P2": ("ratio", ">=", 0.20),
    "P2.size": ("ratio", "<=", 5.0),
    "P2.year": ("ratio", ">=", 0.9), "P3": ("ratio", "<=", 2.0), "P3.peak": ("mb", "<=", 100.0),
    "P3.growth": ("ratio", "<=", 1.2), "P4": ("ratio", "<=", 10.0), "P5": ("ratio", "<=", 2.0),
}


# P1's aim beyond its target: printed beside the verdict.
P1_AIM = 0.33


@dataclass
class Settings:
    """How long and how often a run measures, and on how much data."""

    seconds: float = 6.0  # per timed load
    warmup_seconds: float = 2.0
    repetitions: int = 3
    connections: int = 8
    weekly_patients: int = 10_000
    weekly_small: int = 1_000
    weekly_days: int = 365
    p4_puts: int = 20  # single-day PUTs per repetition
    p4_syncs: int = 3  # 90-day syncs per repetition
    writers: int = 1000
    # No P3 repetition that would end past this: at the target (<= 2x a scan
    # of ~5 s) three fit easily; far from it, one or two show the gap.
    weekly_budget_s: float = 90.0

    @property
    def fresh_patients(self) -> int:
        return 1 + self.repetitions * (1 + self.p4_syncs)


def spread(values: list[float]) -> dict:
    """Median, min and max of the repetitions, and the values themselves."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def verdict(key: str, value: float) -> bool:
    """Tell whether value meets the target named key."""
    _unit, operator, limit = TARGETS[key]
    return value >= limit if operator == ">=" else value <= limit
