"""Monte Carlo: N seeded replications of a journey, in parallel processes, and their summaries.

Replication *i* draws from its own generator, spawned from the master seed with numpy's
``SeedSequence``; results are gathered in replication order. So the same seed gives the same
result bit for bit, whatever the number of worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from simulator.journey import JourneyPlan, simulate

__all__ = ["MonteCarloResult", "run_monte_carlo", "summarize"]

_PLAN: JourneyPlan | None = None


@dataclass
class MonteCarloResult:
    """Stacked replication times (seconds after the plan's epoch), one row per replication."""

    seed: int
    arrive_s: np.ndarray  # (N, n + 1)
    depart_s: np.ndarray
    halt_start_s: np.ndarray  # (N, halts)
    halt_end_s: np.ndarray

    @property
    def n(self) -> int:
        return int(self.arrive_s.shape[0])


def _init(plan: JourneyPlan) -> None:
    global _PLAN
    _PLAN = plan


def _run_batch(seeds: list[np.random.SeedSequence]) -> list[tuple[np.ndarray, ...]]:
    assert _PLAN is not None
    out: list[tuple[np.ndarray, ...]] = []
    for ss in seeds:
        r = simulate(_PLAN, np.random.default_rng(ss))
        out.append((r.arrive_s, r.depart_s, r.halt_start_s, r.halt_end_s))
    return out


def run_monte_carlo(plan: JourneyPlan, n: int, *, seed: int, workers: int | None = None,
                    progress: Callable[[int], Any] | None = None,
                    batch: int = 50) -> MonteCarloResult:
    """Run ``n`` replications seeded from ``seed``.

    Parameters
    ----------
    workers
        Processes to use (default: the CPUs available, at most 8). 1 runs in this process.
    progress
        Called with the number of replications finished so far.
    """
    seeds = np.random.SeedSequence(seed).spawn(n)
    batches = [seeds[i:i + batch] for i in range(0, n, batch)]
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), 8)
    workers = max(1, min(workers, len(batches)))
    results: list[tuple[np.ndarray, ...]] = []
    if workers == 1:
        _init(plan)
        for b in batches:
            results.extend(_run_batch(b))
            if progress:
                progress(len(results))
    else:
        ctx = get_context("fork") if "fork" in _methods() else get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                                 initargs=(plan,)) as pool:
            for part in pool.map(_run_batch, batches):
                results.extend(part)
                if progress:
                    progress(len(results))
    return MonteCarloResult(
        seed=seed,
        arrive_s=np.stack([r[0] for r in results]), depart_s=np.stack([r[1] for r in results]),
        halt_start_s=np.stack([r[2] for r in results]),
        halt_end_s=np.stack([r[3] for r in results]),
    )


def _methods() -> list[str]:
    from multiprocessing import get_all_start_methods

    return get_all_start_methods()


def summarize(samples: np.ndarray, *, axis: int = 0) -> dict[str, np.ndarray]:
    """Median and the 5–95 % band of ``samples`` along ``axis``."""
    q = np.quantile(samples, [0.05, 0.5, 0.95], axis=axis)
    return {"p05": q[0], "median": q[1], "p95": q[2]}
