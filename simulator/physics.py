"""Running-time physics: tractive effort, Davis resistance, braking, and the speed profile.

Longitudinal dynamics of the train as one mass point::

    m·ρ·dv/dt = F(v) − R(v) − m·g·i,   F(v) = min(F_max, P/v),   R(v) = A + B·v + C·v²

The speed profile is the lowest of three envelopes, each computed for a whole route at once with
numpy's cumulative minimum instead of a step-by-step loop:

* the limit itself (line limit, train maximum, operating cap);
* the *acceleration* envelope. Let S(v) be the distance needed to reach v from rest on level track
  (a monotone table from the equation above). Accelerating at full power advances S one metre per
  metre, so after any point y at speed limit v(y) the train can reach at x at most
  ``S⁻¹(min_{y≤x}(S(v_lim(y)) − y) + x)``. On a grade the limit is capped at the balancing speed
  for that grade and each metre counts for the ratio of the accelerations with and without it.
* the *braking* envelope at constant deceleration b: ``v(x)² ≤ min_{y≥x}(v_lim(y)² + 2b(y − x))``,
  so every lower limit ahead (and every stop) is reached in time, never passed.

Time between points is 2·dx/(v₁ + v₂) (exact for constant acceleration), plus a supplement (%), the
margin real timetables add to the technical running time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.rolling_stock import Consist, Locomotive

__all__ = ["G", "SpeedProfile", "TrainDynamics", "speed_profile", "speed_profiles"]

G = 9.81
KMH = 1 / 3.6
#: the lowest speed the acceleration envelope lets a train fall to on a grade it cannot climb
CRAWL_MS = 1.0


@dataclass(frozen=True)
class TrainDynamics:
    """A train (consist plus locomotives) reduced to the numbers the equation of motion needs.

    All quantities in SI units: kg, m/s, N, W, m/s².
    """

    mass_kg: float
    rotating_mass_factor: float
    max_speed_ms: float
    power_w: float
    max_effort_n: float
    resistance_a_n: float
    resistance_b_n_per_ms: float
    resistance_c_n_per_ms2: float
    braking_mps2: float
    label: str = ""

    @classmethod
    def from_stock(cls, consist: Consist, locomotive: Locomotive, *, cars: float | None = None,
                   units: float | None = None, power_factor: float = 1.0) -> TrainDynamics:
        """Combine a consist and ``units`` locomotives of one class.

        ``power_factor`` scales the locomotives' power (e.g. a weak 3 kV supply: a DC series
        motor's speed at a given effort, hence its power, falls roughly with the line voltage).
        """
        n_cars = consist.cars.value if cars is None else cars
        n_locos = locomotive.units.value if units is None else units
        coach_t = n_cars * consist.car_mass_t.value
        loco_t = n_locos * locomotive.mass_t.value
        kmh = KMH
        a = (coach_t * consist.resistance_a_n_per_t.value
             + loco_t * locomotive.resistance_a_n_per_t.value)
        b = coach_t * consist.resistance_b_n_per_t_per_kmh.value / kmh
        c = (coach_t * consist.resistance_c_n_per_t_per_kmh2.value
             + loco_t * locomotive.resistance_c_n_per_t_per_kmh2.value) / kmh**2
        return cls(
            mass_kg=(coach_t + loco_t) * 1000.0,
            rotating_mass_factor=consist.rotating_mass_factor.value,
            max_speed_ms=min(consist.max_speed_kmh.value, locomotive.max_speed_kmh.value) * kmh,
            power_w=n_locos * locomotive.power_kw.value * 1000.0 * power_factor,
            max_effort_n=n_locos * locomotive.max_tractive_effort_kn.value * 1000.0,
            resistance_a_n=a, resistance_b_n_per_ms=b, resistance_c_n_per_ms2=c,
            braking_mps2=consist.braking_mps2.value,
            label=f"{n_locos:g}× {locomotive.id} + {n_cars:g} cars ({coach_t + loco_t:,.0f} t)",
        )

    def tractive_effort(self, v: np.ndarray | float) -> np.ndarray:
        v = np.maximum(np.asarray(v, dtype=float), 1e-6)
        return np.minimum(self.max_effort_n, self.power_w / v)

    def resistance(self, v: np.ndarray | float) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        return (self.resistance_a_n + self.resistance_b_n_per_ms * v
                + self.resistance_c_n_per_ms2 * v**2)

    def acceleration(self, v: np.ndarray | float, grade: np.ndarray | float = 0.0) -> np.ndarray:
        """Full-power acceleration (m/s²) at speed ``v`` on gradient ``grade`` (rise/run)."""
        net = self.tractive_effort(v) - self.resistance(v) - self.mass_kg * G * np.asarray(grade)
        return np.asarray(net / (self.mass_kg * self.rotating_mass_factor))

    def balancing_speed(self, *, grade: float = 0.0) -> float:
        """The speed at which full power just balances resistance (capped at the maximum)."""
        return _balancing_speed(self, grade)

    def acceleration_table(self, v_top: float, *, steps: int = 2000
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speed grid with the distance S(v) and time T(v) to reach it from rest on level track.

        The arrays are shared between calls with the same arguments: do not modify them.
        """
        return _acceleration_table(self, v_top, steps)

    def stop_loss_s(self, v: float) -> float:
        """Time lost by an unplanned stop from speed ``v`` (braking and restarting, level)."""
        if v <= 0:
            return 0.0
        vg, s, t = self.acceleration_table(v)
        v = float(vg[-1])
        b = self.braking_mps2
        brake = v / b - (v * v / (2 * b)) / v
        accel = float(t[-1]) - float(s[-1]) / v
        return brake + accel


# a plan computes profiles of one train at dozens of caps, each needing the same few tables
@functools.lru_cache(maxsize=256)
def _balancing_speed(dyn: TrainDynamics, grade: float) -> float:
    v = np.linspace(0.0, dyn.max_speed_ms, 4001)
    positive = dyn.acceleration(v, grade) > 0
    if positive.all():
        return dyn.max_speed_ms
    if not positive[0]:
        return 0.0
    return float(v[np.argmin(positive)] - v[1])


@functools.lru_cache(maxsize=256)
def _acceleration_table(dyn: TrainDynamics, v_top: float, steps: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v_top = min(v_top, dyn.balancing_speed())
    v = np.linspace(0.0, max(v_top, 1e-3), steps)
    a = np.maximum(dyn.acceleration(v), 1e-9)
    mid_v = 0.5 * (v[1:] + v[:-1])
    mid_a = 0.5 * (a[1:] + a[:-1])
    dv = np.diff(v)
    s = np.concatenate([[0.0], np.cumsum(mid_v / mid_a * dv)])
    t = np.concatenate([[0.0], np.cumsum(dv / mid_a)])
    for table in (v, s, t):
        table.flags.writeable = False  # shared by every caller
    return v, s, t


@dataclass(frozen=True)
class SpeedProfile:
    """Speed and cumulative running time at points along a route (metres from its origin)."""

    x_m: np.ndarray
    v_ms: np.ndarray
    t_s: np.ndarray
    limit_ms: np.ndarray

    def time_at(self, x_m: np.ndarray | float) -> np.ndarray:
        """Cumulative running time (s) from the origin to ``x_m``, interpolated."""
        return np.interp(x_m, self.x_m, self.t_s)

    def speed_at(self, x_m: np.ndarray | float) -> np.ndarray:
        return np.interp(x_m, self.x_m, self.v_ms)

    @property
    def running_time_s(self) -> float:
        return float(self.t_s[-1])


def _grid(length_m: float, dx: float, stops_m: Sequence[float]) -> np.ndarray:
    x = np.concatenate([np.arange(0.0, length_m, dx), [length_m],
                        np.clip(np.asarray(stops_m, dtype=float), 0.0, length_m)])
    return np.unique(x)


@dataclass(frozen=True)
class _Span:
    """One traction section of a route: what its speed profile needs that no limit changes."""

    i0: int  # its points are x[i0:i1]
    i1: int
    dyn: TrainDynamics
    dx: np.ndarray  # per step
    grade: np.ndarray  # per step
    graded: bool
    run_m: np.ndarray  # distance from the section's start, summed step by step
    balancing_cap: np.ndarray | None  # per point, on grades: the balancing speeds either side
    braking: np.ndarray  # 2 × the braking capability summed step by step (v² units)

    @classmethod
    def of(cls, x: np.ndarray, i0: int, i1: int, grade: np.ndarray,
           dyn: TrainDynamics) -> _Span:
        dx = np.diff(x[i0:i1])
        graded = bool(np.any(grade))
        cap = None
        if graded:
            v_bal = np.full_like(dx, np.inf)
            for g in np.unique(grade[grade != 0]):
                v_bal[grade == g] = dyn.balancing_speed(grade=float(g))
            cap = np.minimum(np.concatenate([[np.inf], v_bal]),
                             np.concatenate([v_bal, [np.inf]]))
        # an up-grade helps braking, a down-grade works against it
        b_eff = np.maximum(dyn.braking_mps2 + G * grade / dyn.rotating_mass_factor, 0.05)
        return cls(i0=i0, i1=i1, dyn=dyn, dx=dx, grade=grade, graded=graded,
                   run_m=np.concatenate([[0.0], np.cumsum(dx)]),
                   balancing_cap=cap,
                   braking=2 * np.concatenate([[0.0], np.cumsum(b_eff * dx)]))


def _section(span: _Span, vl: np.ndarray) -> np.ndarray:
    """Speeds at the points of one traction section (it starts and ends at rest), under the
    limit ``vl`` at those points."""
    dyn = span.dyn
    v_top = min(float(vl.max()), dyn.max_speed_ms)
    vg, sg, _ = dyn.acceleration_table(v_top)
    vl = np.minimum(vl, vg[-1])
    big_x = span.run_m
    if span.graded:
        assert span.balancing_cap is not None
        # on a grade the train cannot run faster than its balancing speed there: cap the limit
        # (entering from a higher speed it is held to that speed before the grade, a slightly
        # pessimistic simplification), and stretch each metre of acceleration by a(v, i)/a(v, 0)
        vl = np.minimum(vl, np.maximum(span.balancing_cap, CRAWL_MS))
        v_ref = np.maximum(0.5 * np.minimum(vl[1:], vl[:-1]), CRAWL_MS)
        a0 = np.maximum(dyn.acceleration(v_ref), 1e-9)
        ratio = np.clip(dyn.acceleration(v_ref, span.grade) / a0, 1e-3, None)
        big_x = np.concatenate([[0.0], np.cumsum(ratio * span.dx)])
    s_lim = np.interp(vl, vg, sg)
    # acceleration envelope in S-space
    s_acc = np.minimum.accumulate(s_lim - big_x) + big_x
    v_acc = np.interp(s_acc, sg, vg)
    # braking envelope
    v2 = np.minimum.accumulate((vl**2 + span.braking)[::-1])[::-1] - span.braking
    return np.minimum(np.minimum(v_acc, np.sqrt(np.maximum(v2, 0.0))), vl)


def speed_profile(
    length_m: float,
    limit_at: np.ndarray,
    sections: Sequence[tuple[float, TrainDynamics]],
    *,
    stops_m: Sequence[float] = (),
    grade_at: np.ndarray | None = None,
    dx: float = 100.0,
    supplement: float = 0.0,
) -> SpeedProfile:
    """Speed profile of a train over a route of ``length_m`` metres.

    Parameters
    ----------
    length_m
        Route length.
    limit_at
        Speed limit (m/s) per ``dx`` cell: ``limit_at[i]`` holds on ``[i·dx, (i+1)·dx)``. It is
        already the lowest of line limit and operating cap; the train maximum is applied here.
    sections
        ``(start_m, dynamics)`` pairs: from ``start_m`` on the train is hauled as ``dynamics``.
        Each section start is a stop (locomotives are changed at rest).
    stops_m
        Places where the train comes to rest (speed 0).
    grade_at
        Gradient (rise/run) per cell; level track where omitted.
    dx
        Cell length in metres.
    supplement
        Running-time supplement as a fraction (0.06 = 6 %).
    """
    return speed_profiles(length_m, sections, n_cells=len(limit_at), stops_m=stops_m,
                          grade_at=grade_at, dx=dx, supplement=supplement)(limit_at)


def speed_profiles(
    length_m: float,
    sections: Sequence[tuple[float, TrainDynamics]],
    *,
    n_cells: int,
    stops_m: Sequence[float] = (),
    grade_at: np.ndarray | None = None,
    dx: float = 100.0,
    supplement: float = 0.0,
) -> Callable[[np.ndarray], SpeedProfile]:
    """:func:`speed_profile` of one train on one route for any speed limits (``n_cells`` of
    them): what depends only on the route (its points, cells, grades and stops) is worked out
    once, for a plan that needs profiles at dozens of caps. The profiles share their ``x_m``."""
    if not sections or sections[0][0] > 0:
        msg = "the first traction section must start at the origin"
        raise ValueError(msg)
    starts = [float(s) for s, _ in sections]
    x = _grid(length_m, dx, [*stops_m, *starts])
    x.flags.writeable = False
    cell = np.minimum((x / dx).astype(int), n_cells - 1)
    prev_cell = np.minimum(np.maximum(np.ceil(x / dx).astype(int) - 1, 0), n_cells - 1)
    grade_cells = np.zeros(n_cells) if grade_at is None else np.asarray(grade_at, dtype=float)
    mids = 0.5 * (x[1:] + x[:-1])
    grade_mid = grade_cells[np.minimum((mids / dx).astype(int), n_cells - 1)]
    rest = np.isin(x, np.asarray([*stops_m, *starts, 0.0, length_m], dtype=float))
    bounds = [*starts, length_m]
    spans = []
    for (start, dyn), end in zip(sections, bounds[1:], strict=True):
        i0, i1 = int(np.searchsorted(x, start)), int(np.searchsorted(x, end)) + 1
        spans.append(_Span.of(x, i0, i1, grade_mid[i0:i1 - 1], dyn))
    two_dx = 2 * np.diff(x)

    def profile(limit_at: np.ndarray) -> SpeedProfile:
        # the limit at a point is the lower of the cells on either side: a drop is met at its
        # start
        vl = np.minimum(limit_at[cell], limit_at[prev_cell]).astype(float)
        v = np.zeros_like(x)
        for span in spans:
            vl_sec = np.minimum(vl[span.i0:span.i1], span.dyn.max_speed_ms)
            vl_sec[rest[span.i0:span.i1]] = 0.0
            v[span.i0:span.i1] = _section(span, vl_sec)
        vsum = v[1:] + v[:-1]
        dt = np.where(vsum > 0, two_dx / np.maximum(vsum, 1e-9), 0.0)
        t = np.concatenate([[0.0], np.cumsum(dt)]) * (1.0 + supplement)
        return SpeedProfile(x_m=x, v_ms=v, t_s=t, limit_ms=vl)

    return profile
