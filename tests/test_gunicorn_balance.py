"""Under gunicorn, a busy worker leaves new connections to an idle one, and still takes them when it must.

The shipped gunicorn.conf.py runs a few gthread workers on one listening
socket. Keep-alive connections stay where they land, so a busy worker that
took a new connection would run its requests on its one core while another
worker idled (api/gunicorn_worker.py, ProblemThreadWorker). These tests run
the real worker class on a tiny WSGI app (below) that answers with its
process id after a pause the query asks for.
"""
import http.client
import json
import os
import socket
import threading
import time
from urllib.parse import parse_qs

import pytest

from . import gunicorn

APP_SPEC = "tests.test_gunicorn_balance:pid_after_pause"


def pid_after_pause(environ, start_response):
    """Answer {"pid": ...} after sleeping ?pause= seconds (the request holds its thread meanwhile)."""
    pause = float(parse_qs(environ.get("QUERY_STRING", "")).get("pause", ["0"])[0])
    time.sleep(pause)
    body = json.dumps({"pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def pid_of(port: int, pause: float = 0.0, timeout: float = 30) -> int:
    """Ask on a new connection which worker answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", f"/?pause={pause}")
        return json.loads(connection.getresponse().read())["pid"]
    finally:
        connection.close()


def in_background(call, *args) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call(*args)), daemon=True)
    thread.start()
    return thread, answers


@pytest.fixture
def workers(tmp_path):
    def serve(count: int):
        settings = gunicorn.environment(WEB_CONCURRENCY=str(count), GUNICORN_THREADS="4")
        return gunicorn.running(settings, tmp_path, app_spec=APP_SPEC, ready_path="/")
    return serve


def test_a_new_connection_goes_to_the_idle_worker_not_the_busy_one(workers):
    # Stock gthread hands it to whichever worker wakes first: the busy one
    # about half the time, so ten rounds in a row would all but never pass.
    with workers(2) as (server,):
        for _ in range(10):
            busy, answers = in_background(pid_of, server.port, 0.6)
            time.sleep(0.2)  # the slow request is under way in one worker
            other = pid_of(server.port)
            busy.join()
            assert other != answers[0]


def test_a_new_connection_is_served_soon_while_kept_alive_clients_keep_every_worker_busy(workers):
    # Waiting for a worker to be free starved it: under steady keep-alive
    # load a worker is hardly ever free. Measured in the busy clients' own
    # requests, so a slow machine slows both sides alike.
    served = [0]
    stop = threading.Event()

    def keep_busy(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            connection.request("GET", "/?pause=0.02")
            connection.getresponse().read()
            served[0] += 1
        connection.close()

    with workers(1) as (server,):
        # More clients than threads: the worker always has requests under way.
        clients = [threading.Thread(target=keep_busy, args=(server.port,), daemon=True) for _ in range(8)]
        for client in clients:
            client.start()
        time.sleep(0.5)
        before = served[0]
        pid_of(server.port)
        meanwhile = served[0] - before
        stop.set()
        for client in clients:
            client.join()
        assert before > 20, "the busy clients never got going"
        assert meanwhile < 100, f"the new connection waited while {meanwhile} kept-alive requests were served"


def test_a_worker_whose_requests_all_run_long_still_takes_new_connections(workers):
    # Its threads all wait (a silent database, say): the liveness probe on a
    # new connection must still be answered, and another request queued.
    with workers(1) as (server,):
        slow = [in_background(pid_of, server.port, 8)[0] for _ in range(4)]
        time.sleep(0.3)
        probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=6)
        probe.request("GET", "/healthz")
        assert probe.getresponse().status == 200
        probe.close()
        assert all(thread.is_alive() for thread in slow), "the probe was answered only after the slow requests"
        for thread in slow:
            thread.join()


def test_a_client_that_connects_and_says_nothing_does_not_stop_the_worker_taking_others(workers):
    with workers(1) as (server,):
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
        try:
            time.sleep(0.3)
            assert pid_of(server.port, timeout=10)
        finally:
            for connection in silent:
                connection.close()


def test_kept_alive_connections_keep_their_worker_and_are_served_while_it_is_busy(workers):
    with workers(2) as (server,):
        kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        kept.request("GET", "/")
        home = json.loads(kept.getresponse().read())["pid"]
        busy, answers = in_background(pid_of, server.port, 0.6)
        time.sleep(0.2)
        kept.request("GET", "/")  # the same connection, whichever worker is busy now
        assert json.loads(kept.getresponse().read())["pid"] == home
        kept.close()
        busy.join()
        assert answers
