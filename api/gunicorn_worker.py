"""Waypoint's gunicorn worker: gthread, with the liveness probe answered before the thread pool
and gunicorn's own refusals answered as problem+json.

gunicorn runs one worker class, so gunicorn-level behaviour of any kind
(problem+json for gunicorn's own 400/431 answers, the liveness probe) goes in
ProblemThreadWorker below: extend this class, do not add a second one. (What
gunicorn's logger does goes in AccessLineLogger, gunicorn.conf.py's logger_class.)

gunicorn.conf.py loads this file by its path: the master must not import the
app package (see api/logs.py), so this module imports only the standard
library and gunicorn; the worker reaches the app through gunicorn.

Why /healthz is answered here. A gthread worker hands every request to a
pool of GUNICORN_THREADS threads. When the database stops answering, each
request holds its thread for seconds (api/database_waits.py bounds it), and
with every thread taken a probe of /healthz would queue behind them: a load
balancer or an orchestrator would see a live process as dead and restart it,
which cures nothing and drops the requests in flight. So the worker's own
loop, which only waits for sockets and never for the app, answers a plain
`GET /healthz` itself: the app's answer, rendered once when the worker boots.
/healthz touches no database and says only that the process runs; /readyz,
which does ask the database, still goes through the app.

Why some errors are answered here. gunicorn refuses some requests before the
app sees them: a request line over limit_request_line (4,094 bytes), a header
over limit_request_field_size (8,190 bytes) or more than limit_request_fields
(100) headers, anything that is not HTTP/1.x. Stock gunicorn answers those with
an HTML page and none of the app's headers; handle_error below writes the
app's error shape and security headers instead, with the status gunicorn
chose. Its copies of the app's constants (the problem type base, the security
headers) are held equal to the app's by tests/test_gunicorn_refusals.py.
"""
import errno
import json
import logging
import math
import os
import selectors
import socket
import ssl
import threading
import time
from functools import partial

from gunicorn import glogging, util
from gunicorn.http import errors
from gunicorn.workers.gthread import TConn, ThreadWorker

LIVENESS_PATH = "/healthz"
# How long a busy worker leaves a new connection to a free one before it takes
# it itself (see ProblemThreadWorker): a few of the app's requests.
HEAD_START_SECONDS = 0.01
# How long a new connection that has sent nothing still makes its worker busy.
SILENT_CONNECTION_SECONDS = 1.0
# A probe is a request line and a few headers; a bigger head goes the usual way.
_PEEK_BYTES = 4096
# Not replayed from the rendering: each probe's own, or meaningless once cached.
_PER_ANSWER_HEADERS = frozenset({"content-length", "connection", "date", "server", "x-request-id"})


PROBLEM_TYPE_BASE = "https://waypoint.example/problems/"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
HSTS = "max-age=63072000; includeSubDomains"

# gunicorn's own choice of status for each refusal (gunicorn/workers/base.py),
# with a detail that quotes nothing of the request: a request line names
# patients, and gunicorn's message would echo it back.
_REFUSALS = [
    (errors.LimitRequestLine, 400, "Bad Request",
     "The request line (method, path and query) is longer than the server reads."),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large",
     "A header is too long, or there are too many headers."),
    ((errors.ForbiddenProxyRequest, ssl.SSLError), 403, "Forbidden", "Request forbidden."),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented", "The transfer coding is not supported."),
    ((errors.InvalidRequestLine, errors.InvalidRequestMethod, errors.InvalidHTTPVersion,
      errors.InvalidHeader, errors.InvalidHeaderName, errors.InvalidProxyLine,
      errors.InvalidSchemeHeaders, errors.ObsoleteFolding), 400, "Bad Request",
     "The request is not valid HTTP/1.1."),
]
_FAILURE = (500, "Internal Server Error", "Something went wrong on our side; nothing was saved.")


def refusal_for(error: BaseException) -> tuple[int, str, str]:
    """Return the status, title and detail of gunicorn's answer to error (500: not a refusal)."""
    for kinds, status, title, detail in _REFUSALS:
        if isinstance(error, kinds):
            return status, title, detail
    return _FAILURE


def problem_response(status: int, title: str, detail: str) -> bytes:
    """Return a whole HTTP/1.1 response carrying problem details; the connection then closes."""
    body = json.dumps({"type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"), "title": title,
                       "status": status, "detail": detail}).encode()
    headers = {"Connection": "close", "Content-Type": "application/problem+json",
               "Content-Length": str(len(body)), **SECURITY_HEADERS}
    if os.environ.get("WAYPOINT_ENV") == "production":
        headers["Strict-Transport-Security"] = HSTS
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 {status} {title}\r\n{head}\r\n".encode("latin-1") + body


class ProblemThreadWorker(ThreadWorker):
    """gthread, except that a liveness probe on a new connection never waits for a thread,
    gunicorn's own refusals are problem+json, and a busy worker leaves new connections to an idle one.

    Why a busy worker leaves new connections to the others. Stock gthread
    accepts whenever its listening socket is readable, whatever its threads
    are doing; the workers share one socket and whichever wakes first takes
    the lot. Clients keep their connections (keep-alive), so where a
    connection lands is where its requests run: connections opened together
    (a balancer's pool, the bench's load) all went to one worker in 5 of 16
    of the bench's loads, and that process, one core under its GIL, served
    them all while the other core sat idle (the caseload page: 267-294
    against 546-629 requests a second). A process runs one request's Python
    at a time whatever its thread count (its threads are there for the
    waits), so a worker with a request under way leaves a new connection in
    the kernel's queue for HEAD_START_SECONDS, where a free worker takes it
    at once; if none does, the busy worker takes it itself, one connection
    per head start (taking it only once free starved new connections under
    steady keep-alive load: check-in p99 0.8-1.1 s). Idle keep-alive
    connections count for nothing: they stay with their worker, which serves
    them as before. A new connection that sends nothing makes its worker
    busy for SILENT_CONNECTION_SECONDS at most.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # New connections not yet read from (-> when they stop counting), and
        # requests in the thread pool (-> never): while any counts, the worker is busy.
        self._on_hand: dict[TConn, float] = {}
        self._acceptors: dict[socket.socket, object] = {}  # a listener out of the poller -> its callback
        self._our_turn_at = 0.0  # while out of the poller: when this busy worker takes a connection itself
        self._take_one = False
        self._turns: threading.Thread | None = None
        self._paused = threading.Event()

    def accept(self, server, listener):
        with self._lock:
            if self._take_one or not self._busy():
                self._take_one = False
            else:
                # Busy: leave it in the kernel's queue for a free worker a moment.
                self._stop_listening()
                return
        # gunicorn's own accept (gthread.py), which does not hand the connection back.
        try:
            sock, client = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))
            # A client sends its request at once; a silent one stops counting after a while.
            self._on_hand[conn] = time.monotonic() + SILENT_CONNECTION_SECONDS

    def enqueue_req(self, conn):
        with self._lock:
            self._on_hand[conn] = math.inf  # a request: it counts until it finishes
        try:
            super().enqueue_req(conn)
        except BaseException:
            self._count_out(conn)
            raise

    def finish_request(self, fs):
        try:
            super().finish_request(fs)
        finally:
            self._count_out(fs.conn)

    def _count_out(self, conn: TConn) -> None:
        with self._lock:
            self._on_hand.pop(conn, None)
            self._listen_again_if_due()

    def _busy(self) -> bool:
        now = time.monotonic()
        if any(until <= now for until in self._on_hand.values()):
            self._on_hand = {conn: until for conn, until in self._on_hand.items() if until > now}
        return bool(self._on_hand)

    # The listening sockets leave the poller only when a connection arrives at
    # a busy worker, not with every request: keep-alive traffic pays nothing.
    # Called with self._lock held, from the loop or from a thread that
    # finished a request (gunicorn registers sockets from both).
    def _stop_listening(self) -> None:
        for listener in self.sockets:
            if listener not in self._acceptors:
                self._acceptors[listener] = self.poller.get_key(listener).data
                self.poller.unregister(listener)
        self._our_turn_at = time.monotonic() + HEAD_START_SECONDS
        self._paused.set()
        if self._turns is None:
            # The loop wakes once a second at most: a thread of its own keeps the head start short.
            self._turns = threading.Thread(target=self._keep_turns, name="waypoint-accept-turns", daemon=True)
            self._turns.start()

    def _keep_turns(self) -> None:
        while self.alive:
            self._paused.wait(1.0)
            with self._lock:
                due = self._our_turn_at if self._acceptors else None
                if due is None:
                    self._paused.clear()
                    continue
            time.sleep(max(due - time.monotonic(), 0.0))
            with self._lock:
                self._listen_again_if_due()
                if not self._acceptors:
                    self._paused.clear()

    def _listen_again_if_due(self) -> None:
        if not self._acceptors or not self.alive:
            return  # (once the worker stops, its poller closes: nothing to listen for)
        if self._busy():
            if time.monotonic() < self._our_turn_at:
                return
            self._take_one = True  # nobody free took it in time: one connection, then wait again
        for listener, acceptor in self._acceptors.items():
            self.poller.register(listener, selectors.EVENT_READ, acceptor)
        self._acceptors.clear()

    def handle_error(self, req, client, addr, exc):
        """Answer a request gunicorn refuses (or fails) as problem+json, where gunicorn writes HTML."""
        status, title, detail = refusal_for(exc)
        if status >= 500:
            self.log.exception("Error handling request %s", "[withheld]")
        else:
            # The address and the request line stay out of the log, as api/logs.py withholds them.
            self.log.warning("Invalid request (address and request line withheld): %s %s",
                             status, type(exc).__name__)
        try:
            util.write_nonblock(client, problem_response(status, title, detail))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn closes the socket
            self.log.debug("Failed to send error message.")

    liveness_answers: dict[bytes, bytes] | None = None

    def load_wsgi(self):
        super().load_wsgi()
        self.liveness_answers = self._render_liveness()

    def on_client_socket_readable(self, conn, client):
        # Only a connection no thread has read from yet: its bytes are all in
        # the socket, none in gunicorn's parser.
        if not conn.initialized and self._answer_liveness(conn):
            with self._lock:
                self.poller.unregister(client)
            self._count_out(conn)
            self.nr_conns -= 1
            conn.close()
            return
        super().on_client_socket_readable(conn, client)

    def _answer_liveness(self, conn) -> bool:
        """Answer conn if it holds exactly one liveness probe; leave it untouched otherwise."""
        if not self.liveness_answers:
            return False
        try:
            head = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK)  # non-blocking: gthread's new sockets are
        except OSError:
            return False
        method = liveness_method(head)
        if method is None:
            return False
        try:
            conn.sock.recv(len(head))  # the probe, off the socket before the answer and the close
            conn.sock.send(self.liveness_answers[method])  # a few hundred bytes into an empty buffer
        except OSError:
            pass  # the prober is gone: nothing to answer
        return True

    def _render_liveness(self) -> dict[bytes, bytes] | None:
        """Return the app's own answers to GET and HEAD /healthz, as bytes ready to send."""
        # Here, in the worker, not at the top: the master imports this module and
        # only the standard library and gunicorn (see the module's docstring).
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        try:
            environ = EnvironBuilder(path=LIVENESS_PATH, method="GET").get_environ()
            chunks, status, headers = run_wsgi_app(self.wsgi, environ, buffered=True)
            body = b"".join(chunks)
        except Exception:  # the usual path still answers /healthz
            self.log.exception("could not render %s; probes go through the app's threads", LIVENESS_PATH)
            return None
        if not status.startswith("200"):
            self.log.warning("%s answered %s at boot; probes go through the app's threads", LIVENESS_PATH, status)
            return None
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers.items()
                  if name.lower() not in _PER_ANSWER_HEADERS]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        head = "\r\n".join(lines).encode("latin-1")
        return {b"GET": head + body, b"HEAD": head}


class AccessLineLogger(glogging.Logger):
    """gunicorn's logger, except that the access line's fields are worked out only for a line that is written."""

    def access(self, resp, req, environ, request_time):
        # gunicorn works out every field its access line could name (each
        # header of the request and of the answer among them) whenever a
        # logconfig_dict is set, which ours always is, and only then asks
        # whether gunicorn.access logs INFO. The line is off unless
        # GUNICORN_ACCESS_LOG (the app writes its own), so that was work for
        # nothing on every request.
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


def liveness_method(head: bytes) -> bytes | None:
    """Return GET or HEAD if head is one whole liveness probe with no body, else None."""
    request_line, _, rest = head.partition(b"\r\n")
    parts = request_line.split(b" ")
    if (len(parts) != 3 or parts[0] not in (b"GET", b"HEAD") or parts[1] != LIVENESS_PATH.encode()
            or parts[2] not in (b"HTTP/1.0", b"HTTP/1.1")):
        return None
    # The head ends where the data ends: nothing pipelined behind it, no body.
    if not head.endswith(b"\r\n\r\n") or head.count(b"\r\n\r\n") != 1:
        return None
    fields = rest.lower()
    if b"content-length:" in fields or b"transfer-encoding:" in fields:
        return None
    return parts[0]
