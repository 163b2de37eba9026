"""Monte Carlo: many replications of a journey, in batches, on local processes or a Dask cluster.

Replication ``i`` draws its parameters and its unplanned stops from streams keyed by the master
seed and ``i`` (:func:`~simulator.journey.draw_parameters`), so the same seed gives the same
result bit for bit, however the replications are split into batches and wherever the batches
run: in this process, in a pool of local processes, or on the workers of a Dask distributed
cluster (``scheduler=``). Only the leader's times at the route points and halts are kept
(:class:`MonteCarloResult`), so memory grows with the replications only by what the outputs need.

Local worker processes stop with the run: when it fails or is interrupted (Ctrl-C, or SIGTERM,
which the command line turns into an exit), they are terminated; a worker whose parent dies
without cleaning up exits by itself within a fifth of a second (:mod:`simulator._workers`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_all_start_methods
from typing import Any

import numpy as np

from simulator._workers import init_worker, run_in_processes
from simulator.errors import NoConnectionError
from simulator.journey import BatchTimes, StartState, draw_parameters, simulate_batch
from simulator.parameters import ParameterTable
from simulator.plan import JourneyPlan

__all__ = ["BATCH_SIZE", "MonteCarloResult", "run_monte_carlo", "simulate_rows", "summarize"]

#: replications per batch (a task for a worker); results do not depend on it
BATCH_SIZE = 2000
#: smallest batch worth sending to another process
MIN_BATCH = 250
#: how long to try to reach a Dask scheduler
CONNECT_TIMEOUT = "10s"

_PLAN: JourneyPlan | None = None


@dataclass
class MonteCarloResult:
    """The leader's times (seconds after the plan's epoch), one row per replication.

    Attributes
    ----------
    arrive_s
        ``(N, P)`` arrival at (or passage of) each route point of the plan.
    dwell_depart_s
        ``(N, Q)`` departure from the points where the train may dwell; see :meth:`depart`.
    depart_column
        ``(P,)`` column of ``dwell_depart_s`` for each point, -1 where departure = arrival.
    halt_start_s, halt_end_s
        ``(N, H)`` start and end of each halt.
    pilot_depart_s
        With ``pilot=True`` (and a pilot train): ``(N, P)`` when the pilot train left (or
        passed) each route point, as float32 (to 0.02 s over a week: it serves the line
        occupation, and halves the memory it adds).
    """

    seed: int
    arrive_s: np.ndarray
    dwell_depart_s: np.ndarray
    depart_column: np.ndarray
    halt_start_s: np.ndarray
    halt_end_s: np.ndarray
    pilot_depart_s: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.arrive_s.shape[0])

    def arrive(self, point: int) -> np.ndarray:
        """``(N,)`` arrival at route point ``point``."""
        return self.arrive_s[:, point]

    def depart(self, point: int) -> np.ndarray:
        """``(N,)`` departure from route point ``point``."""
        col = int(self.depart_column[point])
        return self.arrive_s[:, point] if col < 0 else self.dwell_depart_s[:, col]

    @property
    def depart_s(self) -> np.ndarray:
        """``(N, P)`` departure from every route point (a new array: prefer :meth:`depart`)."""
        out = self.arrive_s.copy()
        dwell = np.flatnonzero(self.depart_column >= 0)
        out[:, dwell] = self.dwell_depart_s[:, self.depart_column[dwell]]
        return out

    @property
    def journey_s(self) -> np.ndarray:
        """``(N,)`` rail journey time: departure from the origin to arrival at the end."""
        return self.arrive_s[:, -1] - self.depart(0)

    def quantiles(self, q: Any, *, depart: bool = False, block: int = 64) -> np.ndarray:
        """Quantiles ``q`` of the time at every route point, ``(len(q), P)``, computed a few
        columns at a time (no copy of the whole table)."""
        q = np.atleast_1d(q)
        p = self.arrive_s.shape[1]
        out = np.empty((len(q), p))
        for a in range(0, p, block):
            cols = range(a, min(a + block, p))
            part = np.stack([self.depart(c) if depart else self.arrive_s[:, c] for c in cols],
                            axis=1)
            out[:, a:a + len(cols)] = np.quantile(part, q, axis=0)
        return out


def summarize(samples: np.ndarray, *, axis: int = 0) -> dict[str, np.ndarray]:
    """Median and the 5–95 % band of ``samples`` along ``axis``."""
    q = np.quantile(samples, [0.05, 0.5, 0.95], axis=axis)
    return {"p05": q[0], "median": q[1], "p95": q[2]}


# ----------------------------------------------------------------------------------------------
def run_monte_carlo(plan: JourneyPlan, n: int | None = None, *, seed: int = 0,
                    params: ParameterTable | None = None, workers: int | None = None,
                    scheduler: str | None = None, progress: Callable[[int], Any] | None = None,
                    batch_size: int = BATCH_SIZE, pilot: bool = False) -> MonteCarloResult:
    """Run ``n`` replications of ``plan``.

    Parameters
    ----------
    plan
        The journey plan (:func:`simulator.planning.prepare`).
    n
        Replications (with ``params``: its rows).
    seed
        Master seed of the parameters and unplanned stops.
    params
        Parameters to use instead of drawing them from the scenario's rules (one row per
        replication; its own noise keys and seed then apply).
    workers
        Local processes (default: the CPUs available, at most 8); 1 runs in this process.
        Ignored with ``scheduler``.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): the batches run on its
        workers, which need trainsim installed. Results are the same as a local run's.
    progress
        Called with the number of replications finished so far.
    batch_size
        Replications per task.
    pilot
        Also keep when the pilot train left each route point
        (:attr:`MonteCarloResult.pilot_depart_s`).

    Raises
    ------
    NoConnectionError
        The scheduler cannot be reached.
    ValueError
        No replications, or ``workers`` below 1.
    """
    if params is not None:
        n = len(params)
    if n is None or n < 1:
        msg = "give n ≥ 1 replications (or a parameter table)"
        raise ValueError(msg)
    workers = _local_workers(workers)
    size = min(batch_size, max(MIN_BATCH, math.ceil(n / max(workers, 1))))
    tasks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    pilot = pilot and plan.has_pilot
    gather = _Gather(plan, n, seed if params is None else params.seed, progress, pilot=pilot)
    slices = [None if params is None else params.take(slice(lo, hi)) for lo, hi in tasks]
    if scheduler is not None:
        _run_dask(scheduler, plan, seed, tasks, slices, gather, pilot)
    elif workers == 1 or len(tasks) == 1:
        for (lo, hi), part in zip(tasks, slices, strict=True):
            gather.add(lo, _simulate(plan, seed, lo, hi, part, pilot))
    else:
        _run_pool(min(workers, len(tasks)), plan, seed, tasks, slices, gather, pilot)
    return gather.result()


class _Gather:
    """Collects the batches into preallocated arrays."""

    def __init__(self, plan: JourneyPlan, n: int, seed: int,
                 progress: Callable[[int], Any] | None, *, pilot: bool = False) -> None:
        p, q, h = plan.n_points, len(plan.dwell_points), len(plan.halts)
        self.result_ = MonteCarloResult(
            seed=seed, arrive_s=np.empty((n, p)), dwell_depart_s=np.empty((n, q)),
            depart_column=plan.depart_column.copy(), halt_start_s=np.empty((n, h)),
            halt_end_s=np.empty((n, h)),
            pilot_depart_s=np.empty((n, p), dtype=np.float32) if pilot else None)
        self.done = 0
        self.progress = progress

    def add(self, lo: int, times: BatchTimes) -> None:
        r = self.result_
        hi = lo + len(times.arrive_s)
        r.arrive_s[lo:hi] = times.arrive_s
        r.dwell_depart_s[lo:hi] = times.dwell_depart_s
        r.halt_start_s[lo:hi] = times.halt_start_s
        r.halt_end_s[lo:hi] = times.halt_end_s
        if r.pilot_depart_s is not None:
            assert times.pilot_s is not None
            r.pilot_depart_s[lo:hi] = times.pilot_s
        self.done += hi - lo
        if self.progress:
            self.progress(self.done)

    def result(self) -> MonteCarloResult:
        return self.result_


def _simulate(plan: JourneyPlan, seed: int, lo: int, hi: int,
              params: ParameterTable | None, pilot: bool = False) -> BatchTimes:
    if params is None:
        params = draw_parameters(plan, seed, hi - lo, start=lo)
    return simulate_batch(plan, params, pilot=pilot)


def simulate_rows(plan: JourneyPlan, params: ParameterTable, *, start: StartState | None = None,
                  pilot: bool = False, workers: int | None = None) -> BatchTimes:
    """:func:`~simulator.journey.simulate_batch` on local processes, the rows split into one
    block per process.

    A row's run depends only on its own parameters, noise keys and start state, so the result
    is the same, bit for bit, as in one process (the nowcast's particle filter runs its
    particles so). ``workers`` as for :func:`run_monte_carlo`; fewer than ``2 × MIN_BATCH`` rows
    run in this process.
    """
    n = len(params)
    workers = _local_workers(workers)
    size = max(MIN_BATCH, math.ceil(n / max(workers, 1)))
    blocks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    if workers == 1 or len(blocks) < 2:
        return simulate_batch(plan, params, start=start, pilot=pilot)
    jobs = [(lo, params.take(slice(lo, hi)), _start_rows(start, lo, hi), pilot)
            for lo, hi in blocks]
    parts: dict[int, BatchTimes] = {}
    _in_pool(min(workers, len(blocks)), plan, _pool_rows, jobs, parts.__setitem__)
    done = [parts[lo] for lo, _ in blocks]
    pilots = [b.pilot_s for b in done]
    return BatchTimes(
        arrive_s=np.concatenate([b.arrive_s for b in done]),
        dwell_depart_s=np.concatenate([b.dwell_depart_s for b in done]),
        halt_start_s=np.concatenate([b.halt_start_s for b in done]),
        halt_end_s=np.concatenate([b.halt_end_s for b in done]),
        pilot_s=None if any(p is None for p in pilots) else np.concatenate(
            [p for p in pilots if p is not None]))


def _local_workers(workers: int | None) -> int:
    """``workers`` checked, or by default the CPUs available, at most 8."""
    if workers is None:
        return min(len(os.sched_getaffinity(0)), 8)
    if workers < 1:
        msg = f"workers must be at least 1, got {workers}"
        raise ValueError(msg)
    return workers


def _start_rows(start: StartState | None, lo: int, hi: int) -> StartState | None:
    """The start state of rows ``lo:hi`` (a per-row value cut, a shared one kept)."""
    if start is None:
        return None

    def cut(v: Any) -> Any:
        return v[lo:hi] if isinstance(v, np.ndarray) and v.ndim else v

    return dataclasses.replace(start, km=cut(start.km), t_s=cut(start.t_s),
                               pilot_t_s=cut(start.pilot_t_s))


def _pool_rows(job: tuple[int, ParameterTable, StartState | None, bool]
               ) -> tuple[int, BatchTimes]:
    lo, params, start, pilot = job
    assert _PLAN is not None
    return lo, simulate_batch(_PLAN, params, start=start, pilot=pilot)


# -- local processes -------------------------------------------------------------------------
def _run_pool(workers: int, plan: JourneyPlan, seed: int, tasks: list[tuple[int, int]],
              slices: list[ParameterTable | None], gather: _Gather, pilot: bool) -> None:
    jobs = [(seed, lo, hi, part, pilot) for (lo, hi), part in zip(tasks, slices, strict=True)]
    _in_pool(workers, plan, _pool_batch, jobs, gather.add)


def _in_pool(workers: int, plan: JourneyPlan, work: Callable[[Any], tuple[int, BatchTimes]],
             jobs: list[Any], take: Callable[[int, BatchTimes], Any]) -> None:
    """Run ``work`` over ``jobs`` on a pool of ``workers`` processes that hold ``plan``;
    ``take(lo, times)`` each result as it comes."""
    global _PLAN
    fork = "fork" in get_all_start_methods()
    _PLAN = plan  # forked workers inherit it; spawned ones get it pickled once
    try:
        run_in_processes(work, jobs, lambda _, result: take(*result), workers=workers,
                         start="fork" if fork else "spawn",
                         initializer=_init_worker,
                         initargs=(None if fork else plan, os.getpid()))
    finally:
        _PLAN = None


def _init_worker(plan: JourneyPlan | None, parent: int) -> None:
    global _PLAN
    if plan is not None:
        _PLAN = plan
    init_worker(parent)


def _pool_batch(job: tuple[int, int, int, ParameterTable | None, bool]
                ) -> tuple[int, BatchTimes]:
    seed, lo, hi, part, pilot = job
    assert _PLAN is not None
    return lo, _simulate(_PLAN, seed, lo, hi, part, pilot)


# -- Dask --------------------------------------------------------------------------------------
def _run_dask(address: str, plan: JourneyPlan, seed: int, tasks: list[tuple[int, int]],
              slices: list[ParameterTable | None], gather: _Gather, pilot: bool) -> None:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        msg = f"cannot reach the Dask scheduler at {address} ({exc.__class__.__name__}: {exc})"
        raise NoConnectionError(msg) from None
    futures: list[Any] = []
    try:
        plan_future = client.scatter(plan, broadcast=True)
        futures = [client.submit(_dask_batch, plan_future, seed, lo, hi, part, pilot, pure=False)
                   for (lo, hi), part in zip(tasks, slices, strict=True)]
        for fut in as_completed(futures):
            lo, times = fut.result()
            gather.add(lo, times)
    finally:
        if futures:
            client.cancel(futures)
        client.close()


def _dask_batch(plan: JourneyPlan, seed: int, lo: int, hi: int,
                params: ParameterTable | None, pilot: bool = False) -> tuple[int, BatchTimes]:
    return lo, _simulate(plan, seed, lo, hi, params, pilot)
