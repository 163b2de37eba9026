"""Per-replication parameters: every drawn quantity of a journey, as one row of a table.

A replication of a journey is fully determined by its row of a :class:`ParameterTable` (the
departure time, the pilot train's headway, a trip-level pace factor, the speed cap of each cap
rule, the rate multiplier and duration scale of each delay rule, and every halt's duration for
the leader's and the pilot train) plus the *noise* of that row: where the unplanned stops fall
and how long each lasts, drawn from a random stream keyed by the row's ``noise`` number.

:func:`simulator.journey.draw_parameters` draws a table from the scenario's rules; calibration,
sensitivity analysis, what-if sweeps and the nowcast replace columns with their own values and
call :func:`simulator.journey.simulate_batch`. Draws are reproducible row by row: row ``i`` of
``draw_parameters(plan, seed, n)`` is the same whatever ``n`` and however the rows are split into
batches, which is what makes results bit-identical for any number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from simulator.scenario import Duration

__all__ = [
    "Distribution", "ParameterKind", "ParameterSpec", "ParameterTable", "uniform_rows",
]


class ParameterKind(StrEnum):
    """What a parameter column is."""

    DEPART = "depart"  # departure time, seconds after the plan's epoch
    HEADWAY = "headway"  # the pilot train's headway, seconds
    PACE = "pace"  # trip-level factor on every running time (1 = the speed profile)
    CAP = "cap"  # the speed cap of one cap rule, km/h
    DELAY_RATE = "delay_rate"  # factor on one delay rule's rate of unplanned stops
    DELAY_SCALE = "delay_scale"  # factor on one delay rule's stop durations
    HALT = "halt"  # duration of one halt of the leader's train, seconds
    PILOT_HALT = "pilot_halt"  # duration of that halt for the pilot train, seconds


@dataclass(frozen=True)
class Distribution:
    """A one-dimensional distribution drawn by inverse CDF (so it can take given uniforms).

    ``form`` is ``fixed`` (``a``), ``uniform`` on ``[a, b]``, ``triangular`` (low ``a``, mode
    ``m``, high ``b``) or ``two_piece`` (uniform on ``[a, m]`` with probability 1/2, else on
    ``[m, b]``: a range with its median, as the cap rules give them).
    """

    form: str
    a: float
    b: float = 0.0
    m: float = 0.0

    @classmethod
    def fixed(cls, value: float) -> Distribution:
        return cls("fixed", float(value), float(value), float(value))

    @classmethod
    def from_duration(cls, duration: Duration, scale: float = 60.0) -> Distribution:
        """From a scenario :class:`~simulator.scenario.Duration` (minutes), in seconds."""
        if duration.fixed is not None:
            return cls.fixed(duration.fixed * scale)
        if duration.uniform is not None:
            lo, hi = duration.uniform
            return cls("uniform", lo * scale, hi * scale, 0.5 * (lo + hi) * scale)
        assert duration.triangular is not None
        lo, mode, hi = duration.triangular
        return cls("triangular", lo * scale, hi * scale, mode * scale)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function: the values at probabilities ``u`` in [0, 1)."""
        a, b, m = self.a, self.b, self.m
        if self.form == "fixed" or b == a:
            return np.full(np.shape(u), a)
        if self.form == "uniform":
            return a + u * (b - a)
        if self.form == "two_piece":
            return np.where(u < 0.5, a + 2 * u * (m - a), m + (2 * u - 1) * (b - m))
        if self.form == "triangular":
            fc = (m - a) / (b - a)
            left = a + np.sqrt(u * (b - a) * (m - a))
            right = b - np.sqrt((1 - u) * (b - a) * (b - m))
            return np.where(u < fc, left, right)
        msg = f"unknown distribution form {self.form!r}"
        raise ValueError(msg)

    @property
    def support(self) -> tuple[float, float]:
        return self.a, self.b

    def describe(self) -> str:
        if self.form == "fixed" or self.a == self.b:
            return f"{self.a:g}"
        if self.form == "triangular":
            return f"triangular({self.a:g}, {self.m:g}, {self.b:g})"
        if self.form == "two_piece":
            return f"{self.a:g}–{self.b:g} (median {self.m:g})"
        return f"uniform({self.a:g}, {self.b:g})"


@dataclass(frozen=True)
class ParameterSpec:
    """One column of a :class:`ParameterTable`.

    Attributes
    ----------
    name
        Column name, e.g. ``cap:CN``, ``delay_rate:KP:P'yŏngra``, ``halt:border:Sinŭiju``.
    kind
        What the value is.
    index
        Which rule or halt of the plan (cap rule, delay rule or halt index); -1 if none.
    default
        How :func:`~simulator.journey.draw_parameters` draws it from the scenario's rules.
    unit
        ``s``, ``km/h`` or ``factor``.
    label
        Where the default comes from (the rule and its source or assumption).
    calibration
        The key by which a calibration (:mod:`simulator.calibration`) sets this column: e.g.
        ``cap:CN``, ``delay_rate:RU``, ``halt:border:CN-KP``, ``halt:gauge_change``,
        ``headway_s``, ``pace``; empty for what no calibration touches (the departure, the
        scenario's own stops and ceremonies, and any rule the scenario overrides).
    """

    name: str
    kind: ParameterKind
    index: int
    default: Distribution
    unit: str
    label: str = ""
    calibration: str = ""


@dataclass
class ParameterTable:
    """Parameter values, one row per replication.

    Attributes
    ----------
    specs
        The columns (the plan's :attr:`~simulator.journey.JourneyPlan.parameters`).
    values
        ``(n, len(specs))`` float array.
    noise
        ``(n,)`` integer key of each row's stream of random unplanned stops; rows with the same
        key and the same parameters give the same replication (common random numbers). May be
        ``(n, R)``: one key per row and delay rule of the plan, so that each rule's stops vary
        on their own (a sensitivity analysis); equal keys in a row give what one key gives.
    seed
        The master seed of the noise streams.
    """

    specs: tuple[ParameterSpec, ...]
    values: np.ndarray
    noise: np.ndarray
    seed: int
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        self.noise = np.asarray(self.noise, dtype=np.int64)
        if self.values.shape != (len(self.noise), len(self.specs)):
            msg = (f"parameter values of shape {self.values.shape} do not match "
                   f"{len(self.noise)} rows of {len(self.specs)} columns")
            raise ValueError(msg)
        self._index = {s.name: i for i, s in enumerate(self.specs)}

    def __len__(self) -> int:
        return len(self.noise)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def __getitem__(self, name: str) -> np.ndarray:
        """The column ``name`` (a view: assigning into it changes the table)."""
        return self.values[:, self._column(name)]

    def __setitem__(self, name: str, value: float | Sequence[float] | np.ndarray) -> None:
        """Set the column ``name`` (one value for every row, or one per row)."""
        self.values[:, self._column(name)] = value

    def _column(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            msg = f"no parameter {name!r}; the plan has: {', '.join(self.names)}"
            raise KeyError(msg) from None

    def columns(self, kind: ParameterKind) -> np.ndarray:
        """``(n, k)`` values of every column of one kind, ordered by their ``index``."""
        cols = sorted((s.index, i) for i, s in enumerate(self.specs) if s.kind == kind)
        return self.values[:, [i for _, i in cols]]

    def take(self, rows: Sequence[int] | np.ndarray | slice) -> ParameterTable:
        """A table of the given rows (copied)."""
        return ParameterTable(self.specs, self.values[rows].copy(), self.noise[rows].copy(),
                              self.seed)

    def with_noise(self, noise: Iterable[int]) -> ParameterTable:
        """The same parameters with other noise keys (e.g. fresh ones for resampled rows)."""
        return ParameterTable(self.specs, self.values.copy(), np.asarray(list(noise)),
                              self.seed)

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (one column per parameter, plus ``noise``)."""
        frame = pd.DataFrame(self.values, columns=self.names)
        if self.noise.ndim == 1:
            frame["noise"] = self.noise
        else:
            for d in range(self.noise.shape[1]):
                frame[f"noise:{d}"] = self.noise[:, d]
        return frame

    @staticmethod
    def concat(tables: Sequence[ParameterTable]) -> ParameterTable:
        first = tables[0]
        return ParameterTable(first.specs, np.concatenate([t.values for t in tables]),
                              np.concatenate([t.noise for t in tables]), first.seed)


def uniform_rows(entropy: int, stream: int, keys: np.ndarray, width: int) -> np.ndarray:
    """``(len(keys), width)`` uniforms in [0, 1): row k holds the k-th block of ``width``
    numbers of one random stream, so each row depends only on its key.

    The stream is PCG64 seeded from ``SeedSequence(entropy, spawn_key=(stream,))``; a run of
    consecutive keys is drawn in one call after jumping ahead (``advance``) to its first block.
    """
    keys = np.asarray(keys, dtype=np.int64)
    out = np.empty((len(keys), width))
    if width == 0 or len(keys) == 0:
        return out
    breaks = np.flatnonzero(np.diff(keys) != 1) + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(keys)], strict=True):
        bitgen = np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(stream,)))
        bitgen.advance(int(keys[lo]) * width)
        out[lo:hi] = np.random.Generator(bitgen).random((hi - lo, width))
    return out
