"""`python -m bench` names what holds each throughput target a run missed, from that run's own figures."""
from bench.floor import PROMISE_STAGES
from bench.report import holding_rows

FLOOR_STAGES = {
    "token signature and claims (PyJWT)": 8.0, "token's session and the caller (one SELECT)": 166.0,
    "audit event and its commit": 187.0, "arguments: query, headers and body (webargs)": 62.0,
    "response: dump and JSON": 64.0, "request log line and id": 23.0, "security headers": 24.0,
    "the view's own work (its SQL, rules, figures)": 105.0, "the rest: Flask and werkzeug, the other hooks": 328.0,
}
PUT_STAGES = {**FLOOR_STAGES, "token's session and the caller (one SELECT)": 772.0,
              "arguments: query, headers and body (webargs)": 406.0,
              "the view's own work (its SQL, rules, figures)": 723.0}


def spread(median: float) -> dict:
    return {"median": median, "min": median, "max": median}


def run(floor=0.178, promises=0.225, put=0.086, put_share=0.507, caseload=0.25) -> dict:
    """A run's figures, shaped as bench.figures leaves them (only what the rows read)."""
    return {
        "floor": {"ratio": spread(floor), "met": floor >= 0.25,
                  "shares": {"P1": spread(put_share), "P2": spread(0.652)},
                  "in_process": {"stages": {"floor": FLOOR_STAGES, "P1 PUT": PUT_STAGES,
                                            "P2 caseload 100x90": FLOOR_STAGES}}},
        "promises": {"ratio": spread(promises)},
        "P1": {"ratio": spread(put), "met": put >= 0.20},
        "P2": {"cases": {"100x90": {"ratio": spread(caseload), "met": caseload >= 0.20}}},
    }


def held(rows: list[list[str]], what: str) -> str:
    return next(row[1] for row in rows if row[0] == f"What holds {what} in this run")


def test_a_floor_missed_where_the_promises_alone_miss_too_is_held_by_the_promises():
    rows = holding_rows(run(floor=0.118, promises=0.180))

    assert held(rows, "the floor").startswith("the two promises alone reach 18.0 % of the bare app: short")


def test_a_floor_missed_where_the_promises_alone_reach_it_names_its_other_stages_largest_first():
    text = held(holding_rows(run(floor=0.178, promises=0.286)), "the floor")

    assert text.startswith("the two promises alone reach 28.6 %; the floor's other stages, largest first: "
                           "the rest: Flask and werkzeug, the other hooks 328 µs; the view's own work")
    assert not any(stage in text for stage in PROMISE_STAGES)


def test_a_put_that_would_miss_with_the_floor_at_its_target_names_its_own_work_beyond_the_floors():
    text = held(holding_rows(run(put_share=0.507)), "P1")

    assert text.startswith("at 50.7 % of the floor, 12.7 % of the bare app once the floor met its target: "
                           "its own work beyond the floor's holds it, largest first: "
                           "the view's own work (its SQL, rules, figures) +618 µs; "
                           "token's session and the caller (one SELECT) +606 µs; "
                           "arguments: query, headers and body (webargs) +344 µs")


def test_a_put_that_would_meet_its_target_with_the_floor_at_its_own_is_held_by_the_floor():
    assert held(holding_rows(run(put_share=0.9)), "P1").endswith("the floor holds it (above)")


def test_a_put_whose_own_promises_alone_miss_its_target_is_held_by_them():
    figures = run(put_share=0.507)
    figures["P1"]["promises"] = {"ratio": spread(0.153)}

    assert held(holding_rows(figures), "P1") == ("its promises alone reach 15.3 % of the bare app: "
                                                 "short of the target before any of Waypoint's own work")


def test_a_caseload_whose_promises_alone_reach_its_target_goes_on_to_the_floor_and_its_own_work():
    figures = run(caseload=0.107)
    figures["P2"]["cases"]["100x90"]["promises"] = {"ratio": spread(0.241)}

    assert held(holding_rows(figures), "P2 caseload 100 x 90").startswith(
        "its promises alone reach 24.1 %; at 65.2 % of the floor, 16.3 % of the bare app once the floor met its "
        "target: its own work beyond the floor's holds it, largest first: ")


def test_a_target_met_has_nothing_holding_it():
    assert holding_rows(run(floor=0.26, put=0.21, caseload=0.20)) == []
