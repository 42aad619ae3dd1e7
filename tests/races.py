"""Requests released together on threads: the races only a real database settles."""
import threading

from models import db


def all_at_once(app, requests: list) -> list:
    """Run each request(client) on its own thread, app context and client, released together.

    Return (status, JSON body or None, headers) per request, in order; fail if any thread raised.
    """
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)
    failures: list = []

    def run(index, request):
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait(timeout=30)
                response = request(client)
                responses[index] = (response.status_code, response.get_json(silent=True),
                                    dict(response.headers))
        except BaseException as error:  # noqa: BLE001 - reported below, with the others
            failures.append(error)
        finally:
            with app.app_context():
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert all(response is not None for response in responses)
    return responses
