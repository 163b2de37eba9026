"""Kept for code that imports ``simulator.simulate``: planning now lives in
:mod:`simulator.planning` (one module per stage)."""

from simulator.planning import Prepared, TimelinePoint, prepare

__all__ = ["Prepared", "TimelinePoint", "prepare"]
