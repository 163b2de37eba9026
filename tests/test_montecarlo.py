"""Monte Carlo runs: the parameter table, reproducibility bit for bit however the replications are
split (batches, processes, a Dask cluster), and pools that end cleanly (orphaned workers after a
signal: test_robustness)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from synthetic import FIXED, journey

from simulator import cli
from simulator._workers import WorkerDiedError, run_in_processes
from simulator.journey import StartState, draw_parameters, simulate_batch
from simulator.montecarlo import MIN_BATCH, run_monte_carlo, simulate_rows
from simulator.parameters import Distribution, ParameterKind, ParameterTable
from simulator.plan import JourneyPlan
from simulator.planning import Prepared

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def prep(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    halts = [(120.0, {"at": "Mid", "kind": "locomotive_change", "to": "ru-ep1"})]
    return journey(tmp_path_factory.mktemp("mc"), km=400.0, halts=halts, stations=5,
                   cap=60.0, cap_range=(50.0, 75.0), delays=0.6,
                   delay_minutes={"triangular": [5, 20, 90], **FIXED},
                   headway={"uniform": [10, 40], **FIXED})


def test_the_parameter_table_lists_every_drawn_quantity(prep: Prepared) -> None:
    table = draw_parameters(prep.plan, 7, 50)
    kinds = {s.kind for s in table.specs}
    assert kinds == set(ParameterKind)
    assert table.names == ["depart_s", "headway_s", "pace", "cap:AA", "delay_rate:AA",
                           "delay_scale:AA", "halt:locomotive_change:Mid",
                           "pilot_halt:locomotive_change:Mid"]
    assert np.all(table["pace"] == 1.0) and np.all(table["delay_rate:AA"] == 1.0)
    assert 10 * 60 <= table["headway_s"].min() < table["headway_s"].max() <= 40 * 60
    frame = table.to_frame()
    assert list(frame.columns) == [*table.names, "noise"] and len(frame) == 50
    with pytest.raises(KeyError, match="no parameter 'cap:ZZ'"):
        table["cap:ZZ"]


def test_rows_do_not_depend_on_how_they_are_drawn_or_batched(prep: Prepared) -> None:
    plan = prep.plan
    whole = draw_parameters(plan, 11, 300)
    part = draw_parameters(plan, 11, 100, start=200)
    assert np.array_equal(whole.values[200:], part.values)
    assert np.array_equal(whole.noise[200:], part.noise)
    a = simulate_batch(plan, whole)
    b = simulate_batch(plan, whole.take(slice(200, 300)))
    assert np.array_equal(a.arrive_s[200:], b.arrive_s)
    # a row with the same parameters and noise key gives the same replication anywhere
    shuffled = whole.take(np.arange(300)[::-1])
    c = simulate_batch(plan, shuffled)
    assert np.array_equal(c.arrive_s[::-1], a.arrive_s)


@pytest.mark.no_cover
def test_bit_identical_for_any_number_of_workers_and_batch_size(prep: Prepared) -> None:
    plan = prep.plan
    a = run_monte_carlo(plan, 1200, seed=42, workers=1)
    b = run_monte_carlo(plan, 1200, seed=42, workers=2, batch_size=250)
    c = run_monte_carlo(plan, 1200, seed=43, workers=1)
    for name in ("arrive_s", "dwell_depart_s", "halt_start_s", "halt_end_s"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.arrive_s, c.arrive_s)
    assert a.journey_s.std() > 0
    # only the times at the route points and halts are kept
    assert a.arrive_s.shape == (1200, plan.n_points)
    assert a.dwell_depart_s.shape == (1200, len(plan.dwell_points))


def test_callers_supply_their_own_parameters(prep: Prepared) -> None:
    plan = prep.plan
    table = draw_parameters(plan, 3, 400)
    base = run_monte_carlo(plan, params=table, workers=1)
    slower = ParameterTable(table.specs, table.values.copy(), table.noise, table.seed)
    slower["pace"] = 1.2
    slow = run_monte_carlo(plan, params=slower, workers=2)
    g0, w1 = plan.cap_weights(table.columns(ParameterKind.CAP))
    running = plan.cum_at_points(g0, w1)[:, -1]  # each replication's caps
    # the same stops and halts, 20 % more running time in every replication
    assert slow.journey_s - base.journey_s == pytest.approx(0.2 * running, rel=1e-9)
    # twice the rate of unplanned stops: the leader's extra stops, and some of the pilot's
    # holding it up
    busier = table.take(slice(None))
    busier["delay_rate:AA"] = 2.0
    busy = run_monte_carlo(plan, params=busier, workers=1)
    rule = plan.delay_rules[0]
    extra = rule.expected * float(rule.duration_s.ppf((np.arange(1000) + 0.5) / 1000).mean())
    assert 0.8 * extra < busy.journey_s.mean() - base.journey_s.mean() < 2 * extra


def test_distributions_draw_by_inverse_cdf() -> None:
    u = (np.arange(100_000) + 0.5) / 100_000
    tri = Distribution("triangular", 10.0, 100.0, 20.0).ppf(u)
    assert tri.mean() == pytest.approx((10 + 20 + 100) / 3, rel=1e-3)
    two = Distribution("two_piece", 70.0, 88.0, 80.0).ppf(u)
    assert np.median(two) == pytest.approx(80.0, abs=0.01)
    assert two.min() >= 70 and two.max() <= 88
    assert np.all(Distribution.fixed(3.0).ppf(u) == 3.0)


@pytest.mark.xdist_group("pyabc-dask")  # see conftest
def test_dask_cluster_gives_the_same_numbers(prep: Prepared) -> None:
    from distributed import LocalCluster

    local = run_monte_carlo(prep.plan, 600, seed=5, workers=1)
    # workers as threads of this process start in a fraction of the time; the plan and the
    # batches still go through the scheduler as on a cluster (the plan pickles: see
    # test_pools_end_cleanly_when_sigterm_has_a_handler)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        remote = run_monte_carlo(prep.plan, 600, seed=5, scheduler=cluster.scheduler_address,
                                 batch_size=250)
    assert np.array_equal(local.arrive_s, remote.arrive_s)
    assert np.array_equal(local.halt_end_s, remote.halt_end_s)


@pytest.mark.xdist_group("pyabc-dask")  # see conftest
def test_unreachable_scheduler_is_one_clear_error(prep: Prepared,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.montecarlo
    from simulator.errors import NoConnectionError

    monkeypatch.setattr(simulator.montecarlo, "CONNECT_TIMEOUT", "0.3s")
    with pytest.raises(NoConnectionError, match="cannot reach the Dask scheduler"):
        run_monte_carlo(prep.plan, 10, seed=1, scheduler="tcp://127.0.0.1:9")


def _failing_runs(plan: JourneyPlan) -> None:
    """In a process set up as trainsim's main() sets itself up: runs that fail."""
    cli._MAIN_PID[:] = [os.getpid()]
    signal.signal(signal.SIGTERM, cli._on_signal)

    def fail(done: int) -> None:
        raise RuntimeError("stop")

    for seed in range(12):
        with contextlib.suppress(RuntimeError):
            run_monte_carlo(plan, 400, seed=seed, workers=2, batch_size=200, progress=fail)
    os._exit(0)


@pytest.mark.slow
@pytest.mark.no_cover
def test_pools_end_cleanly_when_sigterm_has_a_handler(prep: Prepared) -> None:
    """The command line turns SIGTERM into an exit; forked workers inherit that handler unless
    they reset it, and then a worker could miss the SIGTERM of the pool's terminate (a run that
    fails or is interrupted) and hang the run. Runs that fail, in a process set up as
    trainsim's main() sets itself up, must each end at once."""
    child = multiprocessing.get_context("fork").Process(target=_failing_runs, args=(prep.plan,))
    child.start()
    child.join(60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0, "a pool hung when its run failed"
    # the plan travels to spawned workers and Dask workers pickled
    assert pickle.loads(pickle.dumps(prep.plan)).n_points == prep.plan.n_points


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    if x == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # a worker killed (out of memory, say)
    if x == 5:
        raise _Unpicklable()
    return x * x


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Unpicklable(Exception):
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("no pickling")


def test_worker_processes_run_jobs_and_end_with_any_failure() -> None:
    """run_in_processes: every result, with its job's index; a job's exception raised here as
    it was; a worker that dies, one clear error; and whatever happens no worker outlives the
    call (each has a pipe of its own: nothing a killed worker held is needed again)."""
    before = set(multiprocessing.active_children())
    got: dict[int, int] = {}
    run_in_processes(_square_or_fail, [0, 1, 2, 6, 7], got.__setitem__, workers=2)
    assert got == {0: 0, 1: 1, 2: 4, 3: 36, 4: 49}
    with pytest.raises(ValueError, match="three"):
        run_in_processes(_square_or_fail, [1, 2, 3, 6], lambda i, r: None, workers=2)
    with pytest.raises(ValueError, match="three") as raised:
        run_in_processes(_square_or_fail, [3], lambda i, r: None, workers=1)
    assert "in a worker process" in raised.value.__notes__[0]  # where it happened there
    with pytest.raises(WorkerDiedError, match=r"without the result of job 1 \(exit code -9"):
        run_in_processes(_square_or_fail, [1, 4, 2], lambda i, r: None, workers=2)
    with pytest.raises(WorkerDiedError, match="exit code -9"):  # killed while it started
        run_in_processes(_square_or_fail, [1, 2], lambda i, r: None, workers=2,
                         initializer=_die)
    with pytest.raises(RuntimeError, match="could not send an exception"):
        run_in_processes(_square_or_fail, [5], lambda i, r: None, workers=1)
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        run_in_processes(_square_or_fail, [1], lambda i, r: None, workers=0)

    def stop(i: int, r: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C while results come in

    with pytest.raises(KeyboardInterrupt):
        run_in_processes(_square_or_fail, list(range(20)), stop, workers=2)
    assert set(multiprocessing.active_children()) <= before


def test_rows_split_over_processes_run_as_in_one(flagship: Callable[[str], Prepared]) -> None:
    """simulate_rows (the nowcast's particles on every core) gives simulate_batch's times bit
    for bit, from the origin and from a per-row start state with the pilot's times."""
    plan = flagship("vostochny-2023").plan
    params = draw_parameters(plan, 5, 3 * MIN_BATCH + 7)
    one = simulate_batch(plan, params, pilot=True)
    split = simulate_rows(plan, params, pilot=True, workers=2)
    for field in ("arrive_s", "dwell_depart_s", "halt_start_s", "halt_end_s", "pilot_s"):
        np.testing.assert_array_equal(getattr(split, field), getattr(one, field))
    point = plan.n_points // 2
    start = StartState(km=float(plan.km[point]), t_s=one.arrive_s[:, point] + 600.0,
                       halts_pending=False, pilot_t_s=one.pilot_s[:, point])
    one = simulate_batch(plan, params, start=start, pilot=True)
    split = simulate_rows(plan, params, start=start, pilot=True, workers=2)
    for field in ("arrive_s", "dwell_depart_s", "halt_start_s", "halt_end_s", "pilot_s"):
        np.testing.assert_array_equal(getattr(split, field), getattr(one, field))
