"""The per-batch side of the engine, computed with numpy for all replications at once: caps
turned into running times at the route points, unplanned stops drawn from each replication's
noise stream, and the times at the route points read off where each leader left a place."""

from __future__ import annotations

from itertools import islice

import numpy as np

from simulator.parameters import ParameterKind, ParameterTable, uniform_rows
from simulator.plan import DelayRule, JourneyPlan

__all__ = ["EPS_KM", "STREAM_CALIBRATION", "STREAM_PARAMETERS", "Anchors", "Batch"]

#: a train is at a place when it is this close (km)
EPS_KM = 1e-9
#: random streams: parameters, unplanned stops, and the rare extension of the latter
STREAM_PARAMETERS, STREAM_NOISE, STREAM_MORE_NOISE = 0, 1, 2
#: the choice of a posterior sample and the trip's pace, for calibrated draws
STREAM_CALIBRATION = 3


class Batch:
    """Per-batch inputs, computed with numpy for all rows at once."""

    def __init__(self, plan: JourneyPlan, params: ParameterTable,
                 start: tuple[np.ndarray | float, np.ndarray | float, bool] | None,
                 pilot_t0: np.ndarray | float | None = None) -> None:
        """``start``: (km, time, halts pending there) to start from instead of the origin;
        ``pilot_t0``: when the pilot left that km (default: one headway before)."""
        if params.specs != plan.parameters:
            msg = "the parameter table's columns are not this plan's parameters"
            raise ValueError(msg)
        if np.any(params.noise < 0):
            msg = "noise keys must be non-negative"
            raise ValueError(msg)
        n = len(params)
        self.n = n
        self.plan = plan
        cols = {kind: params.columns(kind) for kind in ParameterKind}
        self.depart = cols[ParameterKind.DEPART][:, 0]
        self.headway = (cols[ParameterKind.HEADWAY][:, 0] if plan.has_pilot
                        else np.zeros(n))
        self.pace = cols[ParameterKind.PACE][:, 0]
        if np.any(self.pace <= 0) or np.any(self.headway < 0):
            msg = "pace factors must be positive and headways non-negative"
            raise ValueError(msg)
        self.g0, self.w1 = plan.cap_weights(cols[ParameterKind.CAP])
        self.cd_pt = plan.cum_at_points(self.g0, self.w1)
        self.cn_pt = (plan.cum_at_points(self.g0, self.w1, night=True) if plan.night_slows
                      else self.cd_pt)
        if np.any(cols[ParameterKind.HALT] < 0) or np.any(cols[ParameterKind.PILOT_HALT] < 0):
            msg = "halt durations must be non-negative"
            raise ValueError(msg)
        self.halt_s = cols[ParameterKind.HALT].tolist()
        # the halts and the destination as plain Python numbers, for the per-row loop
        self.halt_km = plan.km[plan.halt_point].tolist()
        self.halt_cd = self.cd_pt[:, plan.halt_point].tolist()
        self.halt_cn = self.cn_pt[:, plan.halt_point].tolist()
        self.end_cd = self.cd_pt[:, -1].tolist()
        self.end_cn = self.cn_pt[:, -1].tolist()
        pilot_halts = [k for k, h in enumerate(plan.halts) if h.pilot_halts]
        self.leader_halts = list(range(len(plan.halts)))
        self.pilot_halts = pilot_halts
        pilot = np.zeros((n, len(plan.halts)))
        if plan.has_pilot and pilot_halts:
            pilot[:, pilot_halts] = cols[ParameterKind.PILOT_HALT]
        self.pilot_halt_s = pilot.tolist()
        self.pilot_halts_pending = start is None
        if start is None:
            self.x0 = np.zeros(n)
            self.t0 = self.depart.copy()
            self.halts_pending = True
        else:
            self.x0 = np.broadcast_to(np.asarray(start[0], dtype=float), (n,)).copy()
            self.t0 = np.broadcast_to(np.asarray(start[1], dtype=float), (n,)).copy()
            self.halts_pending = start[2]
            if np.any(self.x0 < 0) or np.any(self.x0 > plan.length_km + EPS_KM):
                msg = f"start positions must lie on the route (0–{plan.length_km:,.1f} km)"
                raise ValueError(msg)
        # when the pilot leaves the start: one headway ahead unless the caller knows better
        self.pilot_t0 = np.maximum(self.t0 - self.headway, 0.0) if pilot_t0 is None else \
            np.broadcast_to(np.asarray(pilot_t0, dtype=float), (n,)).copy()
        rows = np.arange(n)
        self.c0d = plan.cum_at(self.x0, rows, self.g0, self.w1)
        self.c0n = plan.cum_at(self.x0, rows, self.g0, self.w1, night=True) \
            if plan.night_slows else self.c0d
        noise = _noise_rows(plan, params)
        self.delays = [self._delays(params, cols, noise, t) for t in range(
            2 if plan.has_pilot and plan.pilot_delays else 1)]
        self._knots: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _delays(self, params: ParameterTable, cols: dict[ParameterKind, np.ndarray], u: np.ndarray,
                train: int) -> list[list[tuple[float, float, float, float, int]]]:
        """Per row, the unplanned stops of one train: (km, C day, C night, seconds, rule)."""
        plan, n = self.plan, self.n
        layout = [(d, col) for t, d, col in plan.noise_layout if t == train]
        rate = cols[ParameterKind.DELAY_RATE]
        scale = cols[ParameterKind.DELAY_SCALE]
        if np.any(rate < 0) or np.any(scale < 0):
            msg = "delay rate and duration factors must be non-negative"
            raise ValueError(msg)
        rows_l: list[np.ndarray] = []
        km_l: list[np.ndarray] = []
        dur_l: list[np.ndarray] = []
        rule_l: list[np.ndarray] = []
        for d, col in layout:
            rule = plan.delay_rules[d]
            k = rule.slots
            gaps = -np.log1p(-u[:, col:col + k])
            events = np.cumsum(gaps, axis=1)
            limit = rate[:, d] * rule.expected
            hit = events < limit[:, None]
            dur = rule.duration_s.ppf(u[:, col + k:col + 2 * k]) * scale[:, d:d + 1]
            r_idx, e_idx = np.nonzero(hit)
            lam = events[r_idx, e_idx] / rate[r_idx, d]
            extra_rows: list[int] = []
            extra_lam: list[float] = []
            extra_dur: list[float] = []
            for r in np.flatnonzero(hit[:, -1]):  # more stops than slots: draw the rest
                key = params.noise[r] if params.noise.ndim == 1 else params.noise[r, d]
                more = more_stops(params.seed, int(key), train, d,
                                   float(events[r, -1]), float(limit[r]), rule,
                                   float(scale[r, d]))
                extra_rows += [int(r)] * len(more)
                extra_lam += [x / rate[r, d] for x, _ in more]
                extra_dur += [y for _, y in more]
            rows_l += [r_idx, np.array(extra_rows, dtype=int)]
            km_l += [rule.km_at(lam), rule.km_at(np.array(extra_lam))]
            dur_l += [dur[r_idx, e_idx], np.array(extra_dur)]
            rule_l += [np.full(len(r_idx) + len(extra_rows), d)]
        if not rows_l:
            return [[] for _ in range(n)]
        rows = np.concatenate(rows_l).astype(int)
        km = np.concatenate(km_l)
        keep = km > self.x0[rows] + EPS_KM
        rows, km = rows[keep], km[keep]
        dur = np.concatenate(dur_l)[keep]
        rule_ix = np.concatenate(rule_l)[keep]
        dwell = dur + np.interp(km, plan.knots_km, plan.stop_loss_s)
        cd = plan.cum_at(km, rows, self.g0, self.w1)
        cn = plan.cum_at(km, rows, self.g0, self.w1, night=True) if plan.night_slows else cd
        order = np.lexsort((km, rows))
        # every stop as a tuple, then each row's run of them: no Python code per stop
        stops = iter(zip(km[order].tolist(), cd[order].tolist(), cn[order].tolist(),
                         dwell[order].tolist(), rule_ix[order].tolist(), strict=True))
        return [list(islice(stops, count)) for count in np.bincount(rows, minlength=n).tolist()]

    def knots(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative running time (day, night) at every knot for replication ``r``."""
        if r not in self._knots:
            day = self.plan.cum_knots(self.g0[r], self.w1[r])
            night = self.plan.cum_knots(self.g0[r], self.w1[r], night=True) \
                if self.plan.night_slows else day
            self._knots = {r: (day, night)}
        return self._knots[r]


def _noise_rows(plan: JourneyPlan, params: ParameterTable) -> np.ndarray:
    """The uniforms of each row's unplanned stops. With one noise key per row every delay rule
    reads its block of that key's stream; with a key per row and delay rule (``(n, R)``, as for
    a sensitivity analysis that varies each rule's stops on their own), rule d reads its block
    of key ``[r, d]``'s stream, so equal keys give exactly what one key gives."""
    keys = params.noise
    if keys.ndim == 1:
        return uniform_rows(params.seed, STREAM_NOISE, keys, plan.noise_width)
    if keys.shape[1] != len(plan.delay_rules):
        msg = (f"noise keys of shape {keys.shape}: expected one column per delay rule "
               f"({len(plan.delay_rules)})")
        raise ValueError(msg)
    out = np.empty((len(keys), plan.noise_width))
    for d, rule in enumerate(plan.delay_rules):
        u = uniform_rows(params.seed, STREAM_NOISE, keys[:, d], plan.noise_width)
        for _, rd, col in plan.noise_layout:
            if rd == d:
                out[:, col:col + 2 * rule.slots] = u[:, col:col + 2 * rule.slots]
    return out


def more_stops(seed: int, key: int, train: int, rule_index: int, last: float, limit: float,
                rule: DelayRule, scale: float) -> list[tuple[float, float]]:
    """Stops beyond the slots kept per replication: (expected-count position, seconds)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(STREAM_MORE_NOISE, key, train, rule_index)))
    out: list[tuple[float, float]] = []
    while True:
        u = rng.random((2, rule.slots))
        events = last + np.cumsum(-np.log1p(-u[0]))
        dur = rule.duration_s.ppf(u[1]) * scale
        for e, s in zip(events.tolist(), dur.tolist(), strict=True):
            if e >= limit:
                return out
            out.append((e, s))
        last = float(events[-1])


class Anchors:
    """Where each replication's leader left a place (stops, holds, changes of night mode): the
    times at the route points follow from them and the cumulative running time."""

    def __init__(self) -> None:
        self.row: list[int] = []
        self.km: list[float] = []
        self.cd: list[float] = []
        self.cn: list[float] = []
        self.t: list[float] = []
        self.night: list[bool] = []

    def add(self, row: int, km: float, cd: float, cn: float, t: float, night: bool) -> None:
        self.row.append(row)
        self.km.append(km)
        self.cd.append(cd)
        self.cn.append(cn)
        self.t.append(t)
        self.night.append(night)

    def times(self, plan: JourneyPlan, batch: Batch, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Arrival at every point and departure from the dwell points, ``(n, P)``, ``(n, Q)``."""
        arrive = self.at(plan, batch, n, np.arange(plan.n_points), "left")
        depart = self.at(plan, batch, n, plan.dwell_points, "right")
        return arrive, depart

    def at(self, plan: JourneyPlan, batch: Batch, n: int, points: np.ndarray,
           side: str) -> np.ndarray:
        """``(n, len(points))`` times at route points: the arrival (``side="left"``: from the
        last place left before the point) or the departure (``"right"``: the point itself
        counts, so a stop there is included); NaN where a row left no place before."""
        row = np.array(self.row, dtype=np.int64)
        width = plan.length_km + 1.0
        key = row * width + np.array(self.km)
        cd, cn = np.array(self.cd), np.array(self.cn)
        t, night = np.array(self.t), np.array(self.night, dtype=bool)
        q_row = np.repeat(np.arange(n), len(points))
        q_key = q_row * width + np.tile(plan.km[points], n)
        if not len(row):
            return np.full((n, len(points)), np.nan)
        idx = np.searchsorted(key, q_key, side=side) - 1  # type: ignore[call-overload]
        ok = (idx >= 0) & (row[np.maximum(idx, 0)] == q_row)
        idx = np.maximum(idx, 0)
        c_day = batch.cd_pt[:, points].ravel()
        c_night = batch.cn_pt[:, points].ravel()
        run = np.where(night[idx], c_night - cn[idx], c_day - cd[idx])
        out = np.where(ok, t[idx] + batch.pace[q_row] * run, np.nan)
        return out.reshape(n, len(points))
