"""The benchmark harness: `python -m bench` (see `python -m bench --help`).

It builds its own databases, runs the real app under gunicorn on 127.0.0.1,
drives it with a load generator and prints every figure as a ratio against a
baseline measured in the same run. It is a script that prints figures, never
a test: the test suite does not import it.
"""
