"""The calibrated operating parameters: posterior samples, and how every draw uses them.

``scenarios/defaults/calibrated.yaml`` (written by ``trainsim calibrate``) holds equally
weighted samples of the posterior of the shared operating parameters. A journey plan prepared
with the calibration (:func:`simulator.planning.prepare`, the default) carries it as
:attr:`JourneyPlan.calibration`, and :func:`simulator.journey.draw_parameters` then draws each
replication's row as follows:

1. every column is drawn from the scenario's rules as without a calibration (the departure, the
   scenario's stops and ceremonies, and the within-rule spread of each halt);
2. one posterior sample is chosen per row (uniformly, from the row's own random stream);
3. each column whose :attr:`~simulator.parameters.ParameterSpec.calibration` key a calibrated
   parameter *applies to* takes that sample's value (``mode: value``: caps, delay-rate and
   delay-duration factors, the pilot's headway) or is multiplied by it (``mode: scale``: halt
   durations: border formalities, bogie exchange, locomotive change);
4. the trip-level pace factor is ``exp(σ z)`` with σ the sample's fitted spread and ``z`` a
   standard normal drawn per row (``mode: pace_spread``): a new trip's own pace.

So a run's bands hold the uncertainty of the shared parameters and the trip-to-trip variation.
Columns of rules a scenario overrides have no calibration key and keep the override.

File format (``format: trainsim-calibration/1``)::

    format: trainsim-calibration/1
    provenance:              # how to reproduce it (make calibrate)
      command: trainsim calibrate scenarios/... --cv --seed 13 --readme README.md
      seed: 13
      date: '2026-11-29'
      method: ABC-SMC (pyabc 0.13.0), single-core sampler, ...
      legs: ['hanoi-2019: Pyongyang → border KP-CN (5.30–6.17 h)', ...]  # the legs fitted
      operating_digest: 3f2a…   # sha256 of the operating rules the fit used
      cross_validation: {...}   # the scores, with --cv
      ...
    parameters:              # one entry per calibrated parameter
      - name: cap:CN
        unit: km/h
        mode: value          # value | scale | pace_spread
        applies_to: [cap:CN] # calibration keys of plan columns
        prior: {uniform: [55, 110]}
        why: the blog's 70–88 km/h is widened: Tianjin → Wuchang was run at 73 km/h ...
    samples:                 # equally weighted posterior samples
      columns: [cap:CN, ...] # the parameters, in order
      values: [[81.2, ...], ...]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from simulator import settings
from simulator._io import atomic_path
from simulator._yaml import load_yaml
from simulator.errors import DataFileError
from simulator.parameters import ParameterKind, ParameterSpec

__all__ = [
    "DEFAULTS", "FORMAT", "CalibratedParameter", "Calibration", "Mode", "Prior", "load_calibration",
    "operating_digest",
]

FORMAT = "trainsim-calibration/1"


class Mode(StrEnum):
    """How a calibrated parameter sets the plan columns it applies to."""

    VALUE = "value"  # the column takes the sample's value
    SCALE = "scale"  # the column's draw from the scenario's rules is multiplied by it
    PACE_SPREAD = "pace_spread"  # the pace column is exp(sample × z), z standard normal


@dataclass(frozen=True)
class Prior:
    """A prior: ``uniform`` on [a, b], ``loguniform`` on [a, b], or ``normal`` (mean a, sd b)."""

    form: str
    a: float
    b: float

    def describe(self, unit: str = "") -> str:
        u = f" {unit}" if unit and unit != "factor" else ""
        if self.form == "normal":
            return f"normal(mean {self.a:g}, sd {self.b:g})"
        word = "log-uniform" if self.form == "loguniform" else "uniform"
        return f"{word} {self.a:g}–{self.b:g}{u}"

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        """The prior's quantile at ``Φ(u)``: maps a standard normal onto this prior (the fit
        works on standard normals, where no proposal falls outside a bounded prior)."""

        u = np.asarray(u, dtype=float)
        if self.form == "normal":
            return self.a + self.b * u
        q = ndtr(u)
        if self.form == "uniform":
            return self.a + (self.b - self.a) * q
        return np.exp(np.log(self.a) + (np.log(self.b) - np.log(self.a)) * q)

    def as_dict(self) -> dict[str, list[float]]:
        return {self.form: [self.a, self.b]}

    @classmethod
    def from_dict(cls, data: Any) -> Prior:
        if not isinstance(data, dict) or len(data) != 1:
            msg = "expected one of {uniform: [a, b]}, {loguniform: [a, b]}, {normal: [m, sd]}"
            raise ValueError(msg)
        ((form, ab),) = data.items()
        if form not in ("uniform", "loguniform", "normal") or not (
                isinstance(ab, list) and len(ab) == 2):
            msg = f"unknown prior {data!r}"
            raise ValueError(msg)
        return cls(str(form), float(ab[0]), float(ab[1]))


@dataclass(frozen=True)
class CalibratedParameter:
    """One calibrated shared parameter.

    Attributes
    ----------
    name
        Its name, e.g. ``cap:CN``, ``delays:KP-east:rate``, ``halt:gauge_change:scale``,
        ``pace:sigma``; a parameter that applies to nothing (a structural candidate's) is
        kept in the file but sets no column.
    unit
        ``km/h``, ``s``, ``min``, ``km``, ``factor`` or ``z`` (a standard normal).
    mode
        How it sets the columns it applies to.
    applies_to
        The :attr:`~simulator.parameters.ParameterSpec.calibration` keys of the columns it sets.
    prior
        The prior of the fit.
    why
        Where the prior comes from, and why it is wider than the rule's stated range.
    """

    name: str
    unit: str
    mode: Mode
    applies_to: tuple[str, ...]
    prior: Prior
    why: str = ""


@dataclass
class Calibration:
    """Equally weighted posterior samples of the calibrated parameters.

    Attributes
    ----------
    parameters
        The calibrated parameters (the columns of ``samples``).
    samples
        ``(S, k)`` posterior samples.
    provenance
        Which legs, which command, which seed, the date, the digest of the operating rules.
    path
        The file it was read from (None if made in memory).
    """

    parameters: tuple[CalibratedParameter, ...]
    samples: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.samples = np.atleast_2d(np.asarray(self.samples, dtype=float))
        if self.samples.shape[1] != len(self.parameters) or len(self.samples) == 0:
            msg = (f"calibration samples of shape {self.samples.shape} do not match "
                   f"{len(self.parameters)} parameters")
            raise ValueError(msg)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __getitem__(self, name: str) -> np.ndarray:
        """The samples of one parameter."""
        return self.samples[:, self.names.index(name)]

    def targets(self, specs: Sequence[ParameterSpec]) -> list[tuple[int, int, Mode]]:
        """(column, parameter, mode) for every plan column a parameter applies to."""
        by_key: dict[str, tuple[int, Mode]] = {}
        for j, p in enumerate(self.parameters):
            for key in p.applies_to:
                by_key[key] = (j, p.mode)
        out = []
        for c, spec in enumerate(specs):
            if spec.calibration and spec.calibration in by_key:
                j, mode = by_key[spec.calibration]
                out.append((c, j, mode))
        return out

    def apply(self, specs: Sequence[ParameterSpec], values: np.ndarray, theta: np.ndarray,
              z: np.ndarray) -> None:
        """Set ``values`` (``(n, len(specs))``, drawn from the scenario's rules) in place from
        one parameter vector per row (``theta``, ``(n, k)``) and the rows' pace normals ``z``."""
        for c, j, mode in self.targets(specs):
            if mode == Mode.VALUE:
                values[:, c] = theta[:, j]
            elif mode == Mode.SCALE:
                values[:, c] = values[:, c] * theta[:, j]
            elif specs[c].kind == ParameterKind.PACE:
                values[:, c] = np.exp(theta[:, j] * z)

    def apply_uniform(self, specs: Sequence[ParameterSpec], values: np.ndarray,
                      u: np.ndarray) -> None:
        """:meth:`apply` with a posterior sample and a pace normal chosen by the uniforms
        ``u`` (``(n, 2)``): column 0 picks the sample, column 1 is the pace's quantile."""
        s = len(self.samples)
        rows = np.minimum((u[:, 0] * s).astype(np.int64), s - 1)
        z = ndtri(np.clip(u[:, 1], 1e-12, 1 - 1e-12))
        self.apply(specs, values, self.samples[rows], z)

    def marginal_ppf(self, j: int, u: np.ndarray) -> np.ndarray:
        """Quantile function of parameter ``j``'s posterior marginal at probabilities ``u``: the
        inverse of the samples' empirical CDF, so ``u`` uniform gives exactly the values a run
        draws for it (a run picks each row's sample uniformly, :meth:`apply_uniform`)."""
        col = np.sort(self.samples[:, j])
        k = np.minimum((np.asarray(u, dtype=float) * len(col)).astype(np.int64), len(col) - 1)
        return col[np.maximum(k, 0)]

    def pace_floor(self, tail: float) -> float | None:
        """The pace factor a fraction ``tail`` of new trips run faster than: the ``tail``
        quantile of ``exp(σ z)`` over the posterior's σ (a mixture of log-normals; None when no
        parameter spreads the pace)."""
        cols = [j for j, p in enumerate(self.parameters) if p.mode == Mode.PACE_SPREAD]
        if not cols:
            return None
        sigma = np.abs(self.samples[:, cols[0]])
        if not np.any(sigma > 0):
            return 1.0

        def cdf(log_pace: float) -> float:
            # P(σ z ≤ x) averaged over the samples; σ = 0 puts the pace at exactly 1
            with np.errstate(divide="ignore"):
                inside = np.where(sigma > 0, ndtr(log_pace / np.where(sigma > 0, sigma, 1.0)),
                                  float(log_pace >= 0))
            return float(inside.mean()) - tail

        hi = 0.0
        if cdf(hi) < 0:  # more than ``tail`` of the samples sit at σ = 0: the pace is 1
            return 1.0
        lo = -12.0 * float(sigma.max())
        return float(np.exp(brentq(cdf, lo, hi, xtol=1e-10)))

    def cap_span(self) -> tuple[float, float] | None:
        """The lowest and highest cap in the samples (the plan's grid must cover them)."""
        cols = [j for j, p in enumerate(self.parameters)
                if p.mode == Mode.VALUE and any(k.startswith("cap:") for k in p.applies_to)]
        if not cols:
            return None
        caps = self.samples[:, cols]
        return float(caps.min()), float(caps.max())

    def summary(self, name: str) -> tuple[float, float, float]:
        """Median and 5–95 % of one parameter."""
        lo, med, hi = np.quantile(self[name], [0.05, 0.5, 0.95])
        return float(med), float(lo), float(hi)

    # -- the file ---------------------------------------------------------------------------
    def to_yaml(self) -> str:

        doc = {
            "format": FORMAT,
            "provenance": self.provenance,
            "parameters": [{
                "name": p.name, "unit": p.unit, "mode": str(p.mode),
                "applies_to": list(p.applies_to), "prior": p.prior.as_dict(), "why": p.why,
            } for p in self.parameters],
            "samples": {"columns": self.names,
                        "values": [[_round(x) for x in row] for row in self.samples.tolist()]},
        }
        head = ("# Calibrated operating parameters: written by `trainsim calibrate` (make "
                "calibrate); do not edit.\n# Format and use: simulator/calibration/posterior.py "
                "and the README's accuracy section.\n")
        return head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100,
                                     default_flow_style=None)

    def write(self, path: Path) -> None:

        with atomic_path(path) as tmp:
            tmp.write_text(self.to_yaml(), encoding="utf-8")


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def load_calibration(path: Path | str) -> Calibration:
    """Read a calibration file (cached while the file is unchanged).

    Raises
    ------
    DataFileError
        The file is missing or malformed (one line naming the file and the field).
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        msg = f"{path}: file not found (run `make calibrate`, or use --defaults hand)"
        raise DataFileError(msg) from None
    return _load(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, size: int) -> Calibration:

    data, _ = load_yaml(path)

    def bad(where: str, what: str) -> DataFileError:
        return DataFileError(f"{path}: field '{where}': {what}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad("format", f"expected '{FORMAT}'")
    params = []
    for i, p in enumerate(data.get("parameters") or []):
        try:
            params.append(CalibratedParameter(
                name=str(p["name"]), unit=str(p.get("unit", "")), mode=Mode(p["mode"]),
                applies_to=tuple(str(k) for k in p.get("applies_to") or ()),
                prior=Prior.from_dict(p["prior"]), why=str(p.get("why", ""))))
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"parameters.{i}", f"not a calibrated parameter ({exc})") from None
    if not params:
        raise bad("parameters", "no calibrated parameters")
    samples = data.get("samples")
    if not isinstance(samples, dict) or samples.get("columns") != [p.name for p in params]:
        raise bad("samples.columns", "expected the parameters' names, in order")
    try:
        values = np.array(samples.get("values"), dtype=float)
    except (TypeError, ValueError):
        raise bad("samples.values", "expected rows of numbers") from None
    if values.ndim != 2 or values.shape[1] != len(params) or len(values) == 0:
        raise bad("samples.values", f"expected rows of {len(params)} numbers")
    if not np.all(np.isfinite(values)):
        raise bad("samples.values", "every value must be a finite number")
    for j, p in enumerate(params):
        col = values[:, j]
        if p.unit != "z" and np.any(col < 0):
            raise bad(f"samples.values (column {p.name})", "expected values ≥ 0")
    provenance = data.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise bad("provenance", "expected a mapping")
    return Calibration(tuple(params), values, provenance, path)


#: the operating rules that shape a journey's times (what a calibration depends on); others,
#: such as the line-occupation margin of the logistics, do not invalidate a calibration
TIMING_RULES = ("supplement", "station_passing", "caps", "delays", "night", "traction_power",
                "borders", "gauge_change", "locomotive_change", "pilot")


def operating_digest(defaults: Any) -> str:
    """sha256 of the numbers and names of the operating rules that shape journey times (a
    loaded :class:`~simulator.scenario.OperatingDefaults`, :data:`TIMING_RULES`, without the
    wording of sources and assumptions): a calibration records the rules it was fitted with."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if k not in ("source", "assumption", "reason")}
        if isinstance(x, list | tuple):
            return [strip(v) for v in x]
        return x

    if defaults is None:
        return hashlib.sha256(b"").hexdigest()
    data = defaults.model_dump(mode="json")
    text = json.dumps(strip({k: data.get(k) for k in TIMING_RULES}), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: what ``defaults=`` of :func:`simulator.planning.prepare` accepts
DEFAULTS = ("calibrated", "hand")


def resolve(defaults: str, calibration: Calibration | Path | str | None,
            operating: Any) -> tuple[Calibration | None, list[str]]:
    """The calibration a plan uses, and warnings.

    ``defaults="hand"``: none. ``"calibrated"``: ``calibration`` (an object or a file), else
    :data:`simulator.settings.calibrated_defaults`; when that file does not exist the plan
    uses the hand-set rules, with a warning. A calibration applies only to the operating rules
    it was fitted to (``operating``, the scenario's defaults, has the digest its provenance
    records): with other rules (an edited operating.yaml, a test's own rules) the plan uses
    the hand-set rules, with a warning.
    """

    if defaults not in DEFAULTS:
        msg = f"defaults must be one of {', '.join(DEFAULTS)}, got {defaults!r}"
        raise ValueError(msg)
    if defaults == "hand":
        return None, []
    if isinstance(calibration, Calibration):
        cal = calibration
    else:
        path = Path(calibration) if calibration is not None else settings.calibrated_defaults
        if calibration is None and not path.exists():
            return None, [f"no calibration ({path} is missing): the hand-set operating rules "
                          "apply; run `make calibrate`"]
        cal = load_calibration(path)
    digest = cal.provenance.get("operating_digest")
    if digest and operating is not None and digest != operating_digest(operating):
        where = cal.path or "the calibration"
        return None, [f"{where} was fitted to other operating rules than this scenario's: the "
                      "hand-set rules apply (after a change of operating.yaml, run `make "
                      "calibrate`)"]
    return cal, []
