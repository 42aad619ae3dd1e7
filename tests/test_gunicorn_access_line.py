"""gunicorn's access line costs nothing while it is off (the default: the app writes its own line)."""
import logging

import pytest
from gunicorn.config import Config

from api import gunicorn_worker, logs


@pytest.mark.parametrize("line_on", [False, True], ids=["off", "on"])
def test_gunicorn_works_out_the_access_lines_fields_only_for_a_line_it_writes(line_on, monkeypatch, caplog):
    # gunicorn itself works them out (every header of the request and of the
    # answer) whenever a logconfig_dict is set, as gunicorn.conf.py's always is.
    logconfig = logs.gunicorn_logconfig("text", access_log=line_on)
    config = Config()
    config.set("logconfig_dict", logconfig)
    # Not through __init__: its setup() would configure this process's logging.
    logger = object.__new__(gunicorn_worker.AccessLineLogger)
    logger.cfg = config
    logger.access_log = logging.getLogger(f"waypoint-test.gunicorn-access-{line_on}")
    logger.access_log.setLevel(logconfig["loggers"]["gunicorn.access"]["level"])
    worked_out = []
    monkeypatch.setattr(logger, "atoms", lambda *_: worked_out.append(True) or {"s": "204"}, raising=False)

    with caplog.at_level(logging.INFO):
        logger.access(None, None, {}, None)

    assert worked_out == ([True] if line_on else [])
    assert [record.name for record in caplog.records] == ([logger.access_log.name] if line_on else [])
