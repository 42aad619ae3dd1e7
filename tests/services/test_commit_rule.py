"""The commit rule (models.transactions): services flush; only the delivery worker among them commits."""
import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
# The worker owns its transactions: the claim and each outcome must be durable on their own.
WORKER = "delivery.py"


def _commits(path: Path) -> list[int]:
    """Return the lines that commit the session: db.session.commit() or commit_unit()."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        helper = isinstance(function, ast.Name) and function.id == "commit_unit"
        session_commit = (isinstance(function, ast.Attribute) and function.attr == "commit"
                          and isinstance(function.value, ast.Attribute) and function.value.attr == "session")
        if helper or session_commit:
            lines.append(node.lineno)
    return lines


def test_no_service_but_the_delivery_worker_commits():
    committing = {path.relative_to(SERVICES).as_posix(): _commits(path) for path in SERVICES.rglob("*.py")}
    assert {name: lines for name, lines in committing.items() if lines and name != WORKER} == {}


def test_the_delivery_worker_commits_through_the_one_helper():
    source = (SERVICES / WORKER).read_text()
    assert _commits(SERVICES / WORKER) and "session.commit()" not in source
