"""timeline.csv: one row per place and event, in route order, with the reported time on the row
it refers to."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulator.montecarlo import run_monte_carlo
from simulator.planning import Prepared, TimelineKind, prepare
from simulator.reports import analyse, timeline_rows
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["hanoi-2019", "vostochny-2023"])
def prepared(request: pytest.FixtureRequest, network) -> Prepared:
    return prepare(load_scenario(ROOT / "scenarios" / f"{request.param}.yaml"),
                   network=network)


def test_one_row_per_place_and_event(prepared: Prepared) -> None:
    result = analyse(prepared, run_monte_carlo(prepared.plan, 40, seed=1, workers=1))
    rows = timeline_rows(result)
    keys = Counter((r["place"], r["event"], r["km"]) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []
    whole = Counter(tuple(r.values()) for r in rows)
    assert max(whole.values()) == 1
    kms = [r["km"] for r in rows if r["km"] != ""]
    assert kms == sorted(kms)
    # the destination once, its reported arrival on that row
    last = prepared.itinerary.stops[-1]
    arrivals = [r for r in rows if r["place"] == last and r["event"] == "arrive"]
    assert len(arrivals) == 1


def test_a_place_with_halts_shows_each_halt_then_the_departure(prepared: Prepared) -> None:
    halted = {p.point for p in prepared.points if p.kind in (
        TimelineKind.BORDER, TimelineKind.LOCOMOTIVE_CHANGE, TimelineKind.GAUGE_CHANGE,
        TimelineKind.STOP, TimelineKind.CEREMONY) and p.which == "halt_start"}
    assert halted
    for point in halted:
        kinds = [p.kind for p in prepared.points if p.point == point]
        if point == prepared.plan.n_points - 1:  # halts at the destination follow the arrival
            assert kinds[0] == TimelineKind.ARRIVE
            continue
        assert kinds[0] == TimelineKind.ARRIVE and kinds[-1] == TimelineKind.DEPART
        assert kinds.count(TimelineKind.ARRIVE) == kinds.count(TimelineKind.DEPART) == 1
        assert TimelineKind.PASS not in kinds



def test_a_halt_row_says_what_the_halt_is(prepared: Prepared) -> None:
    # halt rows took the place's detail: at Tumangang the locomotive change read
    # "1435 → 1520 mm" (the gauge change) and at the Yalu bridge "KP → CN" (the border),
    # and the map's popups showed it under "locomotive change"
    what = {TimelineKind.LOCOMOTIVE_CHANGE: "locomotive change to ",
            TimelineKind.GAUGE_CHANGE: "bogie exchange ",
            TimelineKind.BORDER: "border formalities "}
    rows = [p for p in prepared.points if p.which == "halt_start"]
    assert any(p.kind == TimelineKind.LOCOMOTIVE_CHANGE for p in rows)
    for p in rows:
        if p.kind in what:
            assert p.detail.startswith(what[p.kind]), (p.name, p.kind, p.detail)

def test_reported_time_on_the_row_it_refers_to(network) -> None:
    prep = prepare(load_scenario(ROOT / "scenarios" / "hanoi-2019.yaml"), network=network)
    rows = timeline_rows(analyse(prep, run_monte_carlo(prep.plan, 20, seed=1, workers=1)))
    reported = [(r["place"], r["event"]) for r in rows if r["reported"]]
    assert ("P'yŏngyang", "depart") in reported
    assert ("Changsha", "arrive") in reported
    assert ("Đồng Đăng", "arrive") in reported
    assert len(reported) == len(set(reported))
