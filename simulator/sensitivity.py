"""Global sensitivity: which uncertain quantity drives the spread of the arrival and leg times.

Variance-based (Sobol) indices computed with SALib: Saltelli's scheme on a scrambled Sobol
sequence (``SALib.sample.sobol``) and its estimators (``SALib.analyze.sobol``, with bootstrap
confidence intervals). The inputs are every quantity a replication draws
(:mod:`simulator.parameters`): the departure time, the pilot's headway, the trip pace factor,
each speed cap, each halt's duration, and the unplanned stops of each delay rule, each taken as
one factor:

* a halt is one factor for the leader's and the pilot's duration together;
* a delay rule is one factor for where its stops fall and how long they last (a random stream
  of its own per row: the noise key of the rule, :class:`~simulator.parameters.ParameterTable`)
  together with its rate and duration factors where those are drawn.

The Sobol sample follows the draw of a run (:func:`~simulator.journey.draw_parameters`) step
by step, with each random number it uses replaced by an input of the design:

1. every column is drawn from the scenario's rules through its quantile function (the rule's
   own spread: a halt's range, a hand-set cap's range, the departure window);
2. with a calibration (:attr:`~simulator.plan.JourneyPlan.calibration`), each calibrated
   parameter is drawn through the quantiles of its posterior samples (where a run picks one
   posterior sample per row, the design draws each parameter's marginal on its own) and set
   onto the columns as a run sets it (a cap or a delay-rate factor replaces the column, a halt's
   factor multiplies the rule's draw, the pace is ``exp(σ z)`` with σ from the posterior and
   ``z`` a standard normal of its own).

So every input's marginal distribution is the run's, and a calibrated parameter that sets
several columns (one delay-rate factor for two lines) sets them together, as in the run: the
factors it touches are merged into one. Sobol's method needs independent inputs: the
correlations between the posterior's parameters are ignored (the result reports the largest).
A factor whose draws do not vary is left out.

S1 (first order) is the share of an output's variance the factor explains alone; ST (total) adds
its interactions with the others. The cost is ``N × (F + 2)`` replications for N base samples and
F factors (``calc_second_order=False``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtri

from simulator import plots
from simulator._io import write_csv
from simulator.calibration.posterior import Mode
from simulator.errors import ScenarioError
from simulator.montecarlo import run_monte_carlo
from simulator.parameters import ParameterKind, ParameterTable
from simulator.plan import JourneyPlan
from simulator.planning import Prepared
from simulator.plots import literal_text

__all__ = ["DesignInput", "Factor", "Output", "SensitivityResult", "design_inputs", "design_table",
           "factors", "ignored_correlation", "sobol_sensitivity"]

#: draws a caller may give :func:`factors` (a column still in them is left out)
QUANTILE_DRAWS = 8192
#: noise keys of the delay rules' streams are drawn in [0, 2**KEY_BITS)
KEY_BITS = 40
#: outputs that vary less than this (hours: 3 min) are not attributed (the estimators divide by
#: the variance, and such a spread means nothing for the journey)
MIN_STD_H = 0.05


@dataclass(frozen=True)
class Factor:
    """One input of the analysis: parameter columns, calibrated parameters and delay rules
    varied together.

    Attributes
    ----------
    name, label
        Its key (``cap:KP``, ``stops:KP:P'yŏngra``, keys joined by ``+`` when a calibrated
        parameter merged factors) and its words ("speed cap in KP").
    columns
        The plan columns it sets.
    delay_rules
        The delay rules whose streams of stops it varies.
    calibrated
        The calibrated parameters (:class:`~simulator.calibration.Calibration`) it draws.
    """

    name: str
    label: str
    columns: tuple[str, ...]
    delay_rules: tuple[int, ...] = ()
    calibrated: tuple[str, ...] = ()

    @property
    def delay_rule(self) -> int:
        """The (first) delay rule whose stops it varies; -1 if none."""
        return self.delay_rules[0] if self.delay_rules else -1


@dataclass(frozen=True)
class DesignInput:
    """One variable of the Sobol design: what it draws and the factor it belongs to."""

    name: str
    factor: str
    kind: str  # "column" (a rule's draw) | "posterior" | "pace_z" | "noise"
    index: int  # the column, the calibrated parameter or the delay rule


@dataclass(frozen=True)
class Output:
    """A quantity of each replication: an arrival, a leg's time, the whole journey."""

    name: str
    kind: str  # "arrival" | "elapsed" (from the origin's departure) | "leg"
    place: str
    start: int  # route point (departure) or -1
    end: int  # route point (arrival)


def _label(kind: str) -> str:
    return {"border": "border formalities"}.get(kind, kind.replace("_", " "))


def _where(key: str, keys: list[str]) -> str:
    """``KP:P'yŏngra`` → "on the P'yŏngra line (KP)"; ``KP`` → "in KP", "(other lines)" when
    rules of that country name lines too."""
    country, _, line = key.partition(":")
    if line:
        return f"on the {line} line ({country})"
    others = any(k.startswith(f"{country}:") for k in keys)
    return f"in {country}" + (" (other lines)" if others else "")


def _key_label(plan: JourneyPlan, spec: Any) -> tuple[str, str]:
    """The factor a column belongs to, and its words."""
    delay_keys = [r.name for r in plan.delay_rules]
    cap_keys = [s.name.split(":", 1)[1] for s in plan.parameters if s.kind == ParameterKind.CAP]
    if spec.kind in (ParameterKind.HALT, ParameterKind.PILOT_HALT):
        h = plan.halts[spec.index]
        return f"halt:{h.kind}:{h.place}", f"{_label(h.kind)} at {h.place}"
    if spec.kind in (ParameterKind.DELAY_RATE, ParameterKind.DELAY_SCALE):
        name = plan.delay_rules[spec.index].name
        return f"stops:{name}", f"unplanned stops {_where(name, delay_keys)}"
    if spec.kind == ParameterKind.DEPART:
        return spec.name, "departure time"
    if spec.kind == ParameterKind.HEADWAY:
        return spec.name, "pilot train's headway"
    if spec.kind == ParameterKind.PACE:
        return spec.name, "trip pace factor"
    if spec.kind == ParameterKind.CAP:
        return spec.name, f"speed cap {_where(spec.name.split(':', 1)[1], cap_keys)}"
    return spec.name, spec.name  # a kind added later: its own factor


def _varies(dist: Any) -> bool:
    return bool(dist.form != "fixed" and dist.b != dist.a)


def _targets(plan: JourneyPlan) -> dict[int, tuple[int, Any]]:
    """Column → (calibrated parameter, mode) for every column the plan's calibration sets."""
    cal = plan.calibration
    if cal is None:
        return {}
    return {c: (j, mode) for c, j, mode in cal.targets(plan.parameters)}


def _own_draw(plan: JourneyPlan, c: int, targets: dict[int, tuple[int, Any]]) -> bool:
    """Whether column ``c``'s own draw from the scenario's rules reaches the run: it varies,
    and no calibrated parameter replaces it (a calibrated ``scale`` multiplies it)."""
    spec = plan.parameters[c]
    if not _varies(spec.default):
        return False
    return c not in targets or targets[c][1] == Mode.SCALE


def factors(plan: JourneyPlan, draws: ParameterTable | None = None) -> list[Factor]:
    """The factors of a plan whose draws vary (in the order of the plan's columns, then the
    delay rules).

    They follow from the plan's distributions and its calibration (see the module docstring):
    ``draws`` (a run's :func:`~simulator.journey.draw_parameters`) is not needed; when given,
    a column that does not vary in it is left out too.
    """
    specs = plan.parameters
    cal = plan.calibration
    targets = _targets(plan)
    keys = [_key_label(plan, spec) for spec in specs]
    labels: dict[str, str] = {}
    columns: dict[str, list[str]] = {}
    rules: dict[str, list[int]] = {}
    params: dict[str, list[str]] = {}
    order: list[str] = []

    def add(key: str, label: str) -> None:
        if key not in labels:
            labels[key] = label
            columns[key], rules[key], params[key] = [], [], []
            order.append(key)

    still = (np.ptp(draws.values, axis=0) == 0 if draws is not None and len(draws)
             else np.zeros(len(specs), dtype=bool))
    for c, spec in enumerate(specs):
        key, label = keys[c]
        add(key, label)
        if still[c]:
            continue
        if _own_draw(plan, c, targets):
            columns[key].append(spec.name)
    delay_keys = [r.name for r in plan.delay_rules]
    for d, rule in enumerate(plan.delay_rules):
        add(f"stops:{rule.name}", f"unplanned stops {_where(rule.name, delay_keys)}")
        key = f"stops:{rule.name}"
        rules[key].append(d)
    # calibrated parameters: each joins the factor of the columns it sets; one that sets
    # columns of several factors merges them (the run gives them one value)
    parent = {k: k for k in order}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    if cal is not None:
        by_param: dict[int, list[int]] = {}
        for c, (j, _) in targets.items():
            if not still[c]:
                by_param.setdefault(j, []).append(c)
        for j, set_by_j in sorted(by_param.items()):
            p = cal.parameters[j]
            drawn = np.ptp(cal.samples[:, j]) > 0
            pace_z = p.mode == Mode.PACE_SPREAD and np.any(cal.samples[:, j] != 0)
            if not (drawn or pace_z):
                continue
            first = root(keys[set_by_j[0]][0])
            for c in set_by_j:
                k = keys[c][0]
                parent[root(k)] = first
                columns[k].append(specs[c].name)  # kept once (below)
            params[first].append(p.name)
    merged: dict[str, list[str]] = {}
    for k in order:
        merged.setdefault(root(k), []).append(k)
    out = []
    for group in merged.values():
        cols = [col for k in group for col in columns[k]]
        ds = [d for k in group for d in rules[k]]
        names = [name for k in group for name in params[k]]
        if not (cols or ds or names):
            continue
        out.append(Factor("+".join(group), _merged_label([labels[k] for k in group]),
                          tuple(dict.fromkeys(cols)), tuple(ds), tuple(dict.fromkeys(names))))
    return out


def _merged_label(labels: list[str]) -> str:
    """One label for factors a calibrated parameter merged: "unplanned stops on the P'yŏngra
    line (KP) and on the Hambuk line (KP)"."""
    if len(labels) == 1:
        return labels[0]
    stops = "unplanned stops "
    if all(label.startswith(stops) for label in labels):
        where = [label[len(stops):] for label in labels]
        lines = [re.fullmatch(r"on the (.+) line \((\w+)\)", w) for w in where]
        if all(lines) and len({m.group(2) for m in lines if m}) == 1:
            names = [m.group(1) for m in lines if m]
            country = lines[0].group(2) if lines[0] else ""
            return (f"{stops}on the {', '.join(names[:-1])} and {names[-1]} lines "
                    f"({country})")
        return stops + " and ".join(where)
    return " and ".join(labels)


def design_inputs(plan: JourneyPlan, facs: list[Factor]) -> list[DesignInput]:
    """The variables of the Sobol design, factor by factor."""
    cal = plan.calibration
    targets = _targets(plan)
    index = {s.name: c for c, s in enumerate(plan.parameters)}
    out = []
    for f in facs:
        for name in f.columns:
            c = index[name]
            if _own_draw(plan, c, targets):
                out.append(DesignInput(name, f.name, "column", c))
        for pname in f.calibrated:
            assert cal is not None  # a factor names calibrated parameters only under one
            j = cal.names.index(pname)
            p = cal.parameters[j]
            if np.ptp(cal.samples[:, j]) > 0:
                out.append(DesignInput(f"posterior:{pname}", f.name, "posterior", j))
            if p.mode == Mode.PACE_SPREAD:
                out.append(DesignInput(f"z:{pname}", f.name, "pace_z", j))
        for d in f.delay_rules:
            out.append(DesignInput(f"noise:{d}", f.name, "noise", d))
    return out


def design_table(plan: JourneyPlan, inputs: list[DesignInput], u: np.ndarray,
                 seed: int) -> ParameterTable:
    """The parameter table of a Sobol design: row ``i`` is what
    :func:`~simulator.journey.draw_parameters` draws with its random numbers replaced by the
    design's uniforms ``u[i]`` (one column per input, in [0, 1))."""
    specs = plan.parameters
    n = len(u)
    grid = np.full((n, len(specs)), 0.5)  # an input-less column is fixed: any quantile does
    noise = np.zeros((n, len(plan.delay_rules)), dtype=np.int64)
    cal = plan.calibration
    theta = z = None
    if cal is not None:
        theta = np.repeat(np.median(cal.samples, axis=0)[None, :], n, axis=0)
        z = np.zeros(n)
    for k, inp in enumerate(inputs):
        if inp.kind == "column":
            grid[:, inp.index] = u[:, k]
        elif inp.kind == "noise":
            noise[:, inp.index] = (u[:, k] * 2**KEY_BITS).astype(np.int64)
        elif inp.kind == "posterior":
            assert theta is not None and cal is not None
            theta[:, inp.index] = cal.marginal_ppf(inp.index, u[:, k])
        else:  # the pace's standard normal, as draw_parameters makes it from its uniform
            z = ndtri(np.clip(u[:, k], 1e-12, 1 - 1e-12))
    values = np.empty((n, len(specs)))
    for c, spec in enumerate(specs):
        values[:, c] = spec.default.ppf(grid[:, c])
    if cal is not None:
        assert theta is not None and z is not None
        cal.apply(specs, values, theta, z)
    return ParameterTable(specs, values, noise if noise.shape[1] else np.zeros(
        n, dtype=np.int64), seed)


def ignored_correlation(plan: JourneyPlan, facs: list[Factor]) -> tuple[float, str, str] | None:
    """The largest correlation (Pearson, by absolute value) between two calibrated parameters
    the analysis draws independently: what the design ignores; None without two."""
    cal = plan.calibration
    if cal is None:
        return None
    names = [p for f in facs for p in f.calibrated
             if np.ptp(cal.samples[:, cal.names.index(p)]) > 0]
    if len(names) < 2:
        return None
    cols = cal.samples[:, [cal.names.index(p) for p in names]]
    r = np.corrcoef(cols, rowvar=False)
    np.fill_diagonal(r, 0.0)
    a, b = np.unravel_index(int(np.argmax(np.abs(r))), r.shape)
    return float(r[a, b]), names[min(a, b)], names[max(a, b)]


def outputs(prep: Prepared) -> list[Output]:
    """For each major place (stops, borders, halts, reported places, the destination): the
    arrival there, the time to it from the origin's departure, and the leg from the major
    place before it."""
    plan = prep.plan
    major = [p for p, k in enumerate(plan.point_kind)
             if k in ("stop", "border", "gauge_change", "place", "destination")]
    major = sorted(set(major) | set(prep.reported_point.values()) - {0})
    origin = plan.place[0]
    out = [Output(f"arrival at {plan.place[p]}", "arrival", plan.place[p], -1, p) for p in major]
    out += [Output(f"{origin} → {plan.place[p]}", "elapsed", plan.place[p], 0, p) for p in major]
    for prev, p in itertools.pairwise(major):
        out.append(Output(f"{plan.place[prev]} → {plan.place[p]}", "leg", plan.place[p], prev, p))
    return out


@dataclass
class SensitivityResult:
    """Sobol indices of each output (rows) with respect to each factor (columns).

    Attributes
    ----------
    s1, s1_conf, st, st_conf
        ``(O, F)`` first-order and total indices and the half-widths of their 95 % bootstrap
        confidence intervals.
    std_h, p05_h, p95_h
        ``(O,)`` standard deviation and 5–95 % band of each output over the runs, hours
        (arrivals: hours after the plan's epoch).
    base_n, runs, seed
        Base samples N, replications run, and the seed of the sample and the bootstrap.
    correlation
        What the independent inputs ignore: the largest correlation between two calibrated
        parameters in the posterior samples.
    """

    scenario: str
    factors: list[Factor]
    outputs: list[Output]
    s1: np.ndarray
    s1_conf: np.ndarray
    st: np.ndarray
    st_conf: np.ndarray
    std_h: np.ndarray
    base_n: int
    runs: int
    seed: int
    #: the largest correlation between two calibrated parameters the design draws
    #: independently (r, a, b); None without a calibration or with fewer than two
    correlation: tuple[float, str, str] | None = None

    def __repr__(self) -> str:
        # short, as ScenarioResult's: the index arrays would fill a notebook cell
        return (f"<SensitivityResult {self.scenario}: {len(self.factors)} factors, "
                f"{len(self.outputs)} outputs, N = {self.base_n}, {self.runs:,} replications, "
                f"seed {self.seed}; {self.sentence()}>")

    def index(self, name: str) -> int:
        return next(i for i, o in enumerate(self.outputs) if o.name == name)

    @property
    def destination(self) -> int:
        """The output: the arrival at the destination."""
        return max(i for i, o in enumerate(self.outputs) if o.kind == "arrival")

    def spread(self, o: int) -> bool:
        """Whether output ``o`` varies enough to attribute its variance."""
        return bool(self.std_h[o] >= MIN_STD_H)

    def ranked(self, o: int) -> list[int]:
        """Factors by first-order index on output ``o``, largest first."""
        return [int(f) for f in np.argsort(-np.nan_to_num(self.s1[o]), kind="stable")]

    def sentence(self, o: int | None = None) -> str:
        """"X explains N % of the spread in the arrival at Y" for output ``o``."""
        o = self.destination if o is None else o
        out = self.outputs[o]
        if not self.spread(o):
            return f"Nothing drawn changes the {out.name} by more than a few minutes."
        first, *rest = self.ranked(o)
        what = (f"the spread in the {out.name}" if out.kind == "arrival"
                else f"the spread in the time {out.name}")
        text = (f"**{self.factors[first].label}** explains {_pct(self.s1[o, first])} of {what} "
                f"(±{100 * self.s1_conf[o, first]:.0f} %, 95 % interval; σ = "
                f"{self.std_h[o]:.1f} h)")
        nxt = [f for f in rest[:2] if self.s1[o, f] >= 0.05]
        if nxt:
            text += "; then " + " and ".join(
                f"{self.factors[f].label} ({_pct(self.s1[o, f])})" for f in nxt)
        return text + "."

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for o, op in enumerate(self.outputs):
            for f, fac in enumerate(self.factors):
                out.append({
                    "output": op.name, "kind": op.kind, "factor": fac.label,
                    "columns": _inputs_text(fac),
                    "S1": round(float(self.s1[o, f]), 4),
                    "S1_conf95": round(float(self.s1_conf[o, f]), 4),
                    "ST": round(float(self.st[o, f]), 4),
                    "ST_conf95": round(float(self.st_conf[o, f]), 4),
                    "output_std_h": round(float(self.std_h[o]), 3),
                })
        return out

    def markdown(self) -> list[str]:
        lines = ["## What drives the spread", "",
                 self.sentence(), "",
                 f"Sobol indices (SALib, Saltelli scheme, N = {self.base_n} base samples, "
                 f"{self.runs:,} replications, seed {self.seed}) of each arrival and leg time "
                 "with respect to every drawn quantity; S1 is the share of the variance a "
                 "factor explains alone. Largest first (S1 ± the half-width of its 95 % bootstrap "
                 "interval; ST in sensitivity.csv).", "",
                 self.independence(), "",
                 "| output | σ (h) | first | second | third |", "|---|---|---|---|---|"]
        for o in range(len(self.outputs)):
            top = self.ranked(o)[:3]
            cells = [f"{self.factors[f].label} {_pct(self.s1[o, f])} "
                     f"±{100 * self.s1_conf[o, f]:.0f}" for f in top]
            if not self.spread(o):
                cells = ["(varies less than 3 min)"]
            cells += [""] * (3 - len(cells))
            lines.append(f"| {self.outputs[o].name} | {self.std_h[o]:.2f} | " +
                         " | ".join(cells) + " |")
        return lines

    def independence(self) -> str:
        """What the independent inputs of the design assume, in words."""
        text = ("Sobol's method takes its inputs as independent: each factor is drawn from its "
                "own marginal distribution, as the run draws it")
        if not any(f.calibrated for f in self.factors):
            return text + " (the scenario's rules draw every quantity on its own)."
        text += (" (a calibrated parameter through the quantiles of its posterior samples, "
                 "the pace as exp(σ z) with σ from the posterior), so the correlations between "
                 "the posterior's parameters are ignored")
        if self.correlation is None:
            return text + "."
        r, a, b = self.correlation
        return text + f" (the largest here: r = {r:+.2f} between {a} and {b})."

    def write(self, out: Path) -> list[Path]:
        """Write ``sensitivity.csv`` and ``sensitivity.png`` into ``out``."""
        write_csv(out / "sensitivity.csv", self.rows())
        plot(self, out / "sensitivity.png")
        return [out / "sensitivity.csv", out / "sensitivity.png"]


def _inputs_text(fac: Factor) -> str:
    """The inputs of a factor, for sensitivity.csv: plan columns, calibrated parameters (their
    posterior) and the streams of stops of delay rules."""
    parts = list(fac.columns)
    parts += [f"posterior:{p}" for p in fac.calibrated]
    rules = [k[len("stops:"):] for k in fac.name.split("+") if k.startswith("stops:")]
    if rules:
        parts.append(f"(stops of delay rule{'s' if len(rules) > 1 else ''} "
                     f"{', '.join(rules)})")
    return " ".join(parts)


def _pct(x: float) -> str:
    """An index as a percentage; estimates fall a little outside [0, 1] by sampling error."""
    return f"{100 * min(max(float(x), 0.0), 1.0):.0f} %"


def sobol_sensitivity(prep: Prepared, *, base_n: int = 512, seed: int | None = None,
                      workers: int | None = None, scheduler: str | None = None,
                      progress: Callable[[int, int], object] | None = None,
                      resamples: int = 100) -> SensitivityResult:
    """Sobol indices of a prepared scenario's arrival and leg times.

    Parameters
    ----------
    prep
        A :class:`~simulator.planning.Prepared` scenario.
    base_n
        Base samples N, a power of two; ``N × (F + 2)`` replications run.
    seed
        Seed of the sample, the noise streams and the bootstrap (default: the scenario's).
    workers, scheduler
        As :func:`~simulator.montecarlo.run_monte_carlo` (a Dask cluster with ``scheduler``).
    progress
        Called as ``progress(done, total)`` with the replications finished so far.
    resamples
        Bootstrap resamples for the confidence intervals.
    """
    # only here: SALib's import alone takes most of a second
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if base_n < 2 or base_n & (base_n - 1):
        msg = f"the base sample of a Sobol analysis is a power of two ≥ 2 (got {base_n})"
        raise ValueError(msg)
    plan = prep.plan
    seed = prep.scenario.seed if seed is None else seed
    facs = factors(plan)
    inputs = design_inputs(plan, facs)
    if not inputs:
        msg = (f"{prep.scenario.path or prep.scenario.name}: nothing in this scenario is drawn "
               "(every duration, cap and time is fixed, no unplanned stops), so there is no "
               "spread to attribute")
        raise ScenarioError(msg)
    names = [i.name for i in inputs]
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names),
               "groups": [i.factor for i in inputs]}
    u = np.asarray(sobol_sample.sample(problem, base_n, calc_second_order=False, seed=seed))
    n = len(u)
    table = design_table(plan, inputs, u, seed)
    mc = run_monte_carlo(plan, params=table, workers=workers, scheduler=scheduler,
                         progress=None if progress is None else lambda done: progress(done, n))
    outs = outputs(prep)
    n_f = len(facs)
    s1 = np.full((len(outs), n_f), np.nan)
    s1c, st, stc = s1.copy(), s1.copy(), s1.copy()
    std = np.zeros(len(outs))
    for o, op in enumerate(outs):
        y = mc.arrive(op.end) - (mc.depart(op.start) if op.start >= 0 else 0.0)
        y = y / 3600
        std[o] = float(np.std(y))
        if std[o] < 1e-9:
            s1[o] = s1c[o] = st[o] = stc[o] = 0.0
            continue
        si = sobol_analyze.analyze(problem, y, calc_second_order=False,
                                   num_resamples=resamples, seed=seed)
        s1[o], s1c[o], st[o], stc[o] = si["S1"], si["S1_conf"], si["ST"], si["ST_conf"]
    return SensitivityResult(prep.scenario.name, facs, outs, s1, s1c, st, stc, std, base_n, n,
                             seed, ignored_correlation(plan, facs))


# ----------------------------------------------------------------------------------------------
def _short(result: SensitivityResult, o: int, width: int = 18) -> str:
    """A column label of the heat map: "to Khasan" or "Khasan → Ussuriysk", and the spread."""
    def cut(name: str) -> str:
        return name if len(name) <= width else name[:width - 1] + "…"

    op = result.outputs[o]
    if op.kind == "elapsed":
        label = f"to {cut(op.place)}"
    else:
        start, _, end = op.name.partition(" → ")
        label = f"{cut(start)} → {cut(end)}"
    return f"{label} (σ {result.std_h[o]:.1f} h)"


@literal_text
def plot(result: SensitivityResult, path: Path) -> None:
    """A tornado of S1 and ST for the arrival at the destination, and S1 for every leg."""
    o = result.destination
    order = result.ranked(o)[::-1]
    legs = [i for i, op in enumerate(result.outputs)
            if op.kind in ("leg", "elapsed") and result.spread(i)]
    nf = len(result.factors)
    heat_w = 1.5 + 0.38 * max(len(legs), 3)
    fig, (ax, hx) = plots.subplots(1, 2, figsize=(7.5 + heat_w, 2.6 + 0.42 * max(nf, 4)),
                                 dpi=110, gridspec_kw={"width_ratios": [6.0, heat_w]})
    y = np.arange(nf)
    labels = [result.factors[f].label for f in order]
    ax.barh(y + 0.2, np.clip(result.st[o, order], 0, None), height=0.38, color="#aed6f1",
            xerr=result.st_conf[o, order], error_kw={"elinewidth": 0.8, "ecolor": "#555"},
            label="ST (with interactions)")
    ax.barh(y - 0.2, np.clip(result.s1[o, order], 0, None), height=0.38, color="#1b4f72",
            xerr=result.s1_conf[o, order], error_kw={"elinewidth": 0.8, "ecolor": "#555"},
            label="S1 (alone)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the variance")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{result.outputs[o].name} (σ = {result.std_h[o]:.1f} h)", fontsize=10)
    grid = np.clip(np.nan_to_num(result.s1[legs][:, order].T), 0, 1)
    im = hx.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=1, origin="lower")
    hx.set_yticks(y, ["" for _ in y])
    hx.set_xticks(range(len(legs)), [_short(result, i) for i in legs], fontsize=7, rotation=90)
    for (r, c), v in np.ndenumerate(grid):
        if v >= 0.05:
            hx.text(c, r, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.5 else "black")
    hx.set_title("S1 (%) of the time to each place\nand of each leg (σ ≥ 3 min)", fontsize=9)
    fig.colorbar(im, ax=hx, fraction=0.04, pad=0.02)
    fig.suptitle(f"{result.scenario}: what drives the spread (Sobol indices, N = "
                 f"{result.base_n}, {result.runs:,} replications)", fontsize=11)
    fig.tight_layout()
    plots.save_figure(fig, path)
