"""Jobs orchestrate, services own the queries: a job has no SQL of its own and borrows no private name."""
import ast
from pathlib import Path

import pytest

JOBS = sorted((Path(__file__).resolve().parents[2] / "jobs").glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("module", JOBS, ids=lambda path: path.name)
def test_a_job_imports_no_private_name(module):
    borrowed = [f"{node.module}.{alias.name}" for node in ast.walk(_tree(module))
                if isinstance(node, ast.ImportFrom) for alias in node.names if alias.name.startswith("_")]
    assert borrowed == []


@pytest.mark.parametrize("module", JOBS, ids=lambda path: path.name)
def test_a_job_runs_no_query_of_its_own(module):
    tree = _tree(module)
    sql = [node.module for node in ast.walk(tree)
           if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
           and any(alias.name in {"select", "update", "insert", "delete", "func", "text"} for alias in node.names)]
    statements = [node.attr for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr in {"execute", "scalars", "scalar"}
                  and isinstance(node.value, ast.Attribute) and node.value.attr == "session"]
    assert (sql, statements) == ([], [])
