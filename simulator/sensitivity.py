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

Each input is drawn through the quantiles of :func:`~simulator.journey.draw_parameters`' own
draws (whatever distribution it uses: the scenario's rules, or a calibration's), one input
independent of the others: the indices describe the marginal distributions, not any
correlation between them. A factor whose draws do not vary is left out.

S1 (first order) is the share of an output's variance the factor explains alone; ST (total) adds
its interactions with the others. The cost is ``N × (F + 2)`` replications for N base samples and
F factors (``calc_second_order=False``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import ScenarioError
from simulator.journey import draw_parameters
from simulator.parameters import ParameterKind, ParameterTable
from simulator.plots import literal_text

__all__ = ["Factor", "Output", "SensitivityResult", "sobol_sensitivity"]

#: draws from which each input's quantile function is read
QUANTILE_DRAWS = 8192
#: noise keys of the delay rules' streams are drawn in [0, 2**KEY_BITS)
KEY_BITS = 40
#: outputs that vary less than this (hours: 3 min) are not attributed (the estimators divide by
#: the variance, and such a spread means nothing for the journey)
MIN_STD_H = 0.05


@dataclass(frozen=True)
class Factor:
    """One input of the analysis: parameter columns and delay rules varied together."""

    name: str
    label: str
    columns: tuple[str, ...]
    delay_rule: int = -1  # the delay rule whose stream of stops it varies (-1: none)


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


def factors(plan: Any, draws: ParameterTable) -> list[Factor]:
    """The factors of a plan whose draws vary (in the order of the plan's columns)."""
    groups: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    rules: dict[str, int] = {}
    delay_keys = [r.name for r in plan.delay_rules]
    cap_keys = [s.name.split(":", 1)[1] for s in plan.parameters if s.kind == ParameterKind.CAP]
    for j, spec in enumerate(plan.parameters):
        col = draws.values[:, j]
        if spec.kind in (ParameterKind.HALT, ParameterKind.PILOT_HALT):
            h = plan.halts[spec.index]
            key = f"halt:{h.kind}:{h.place}"
            label = f"{_label(h.kind)} at {h.place}"
        elif spec.kind in (ParameterKind.DELAY_RATE, ParameterKind.DELAY_SCALE):
            key = f"stops:{plan.delay_rules[spec.index].name}"
            label = f"unplanned stops {_where(plan.delay_rules[spec.index].name, delay_keys)}"
            rules[key] = spec.index
        elif spec.kind == ParameterKind.DEPART:
            key, label = spec.name, "departure time"
        elif spec.kind == ParameterKind.HEADWAY:
            key, label = spec.name, "pilot train's headway"
        elif spec.kind == ParameterKind.PACE:
            key, label = spec.name, "trip pace factor"
        elif spec.kind == ParameterKind.CAP:
            key, label = spec.name, f"speed cap {_where(spec.name.split(':', 1)[1], cap_keys)}"
        else:  # a kind added later: its own factor
            key, label = spec.name, spec.name
        labels.setdefault(key, label)
        groups.setdefault(key, [])
        if np.ptp(col) > 0:
            groups[key].append(spec.name)
    for d, rule in enumerate(plan.delay_rules):
        key = f"stops:{rule.name}"
        labels.setdefault(key, f"unplanned stops {_where(rule.name, delay_keys)}")
        groups.setdefault(key, [])
        rules[key] = d
    out = []
    for key, cols in groups.items():
        d = rules.get(key, -1)
        if cols or d >= 0:
            out.append(Factor(key, labels[key], tuple(cols), d))
    return out


def outputs(prep: Any) -> list[Output]:
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
                    "columns": " ".join(fac.columns) + (
                        f" (stops of delay rule {fac.name[6:]})" if fac.delay_rule >= 0 else ""),
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
                 "interval; ST in sensitivity.csv):", "",
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

    def write(self, out: Path) -> tuple[list[Path], list[str]]:
        """Write ``sensitivity.csv`` and ``sensitivity.png``; the lines for summary.md."""
        from simulator.reports import write_csv

        write_csv(out / "sensitivity.csv", self.rows())
        plot(self, out / "sensitivity.png")
        return [out / "sensitivity.csv", out / "sensitivity.png"], [*self.markdown(), ""]


def _pct(x: float) -> str:
    """An index as a percentage; estimates fall a little outside [0, 1] by sampling error."""
    return f"{100 * min(max(float(x), 0.0), 1.0):.0f} %"


def sobol_sensitivity(prep: Any, *, base_n: int = 512, seed: int | None = None,
                      workers: int | None = None, scheduler: str | None = None,
                      progress: Any = None, resamples: int = 100) -> SensitivityResult:
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
        Called with the replications finished so far.
    resamples
        Bootstrap resamples for the confidence intervals.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    from simulator.montecarlo import run_monte_carlo

    if base_n < 2 or base_n & (base_n - 1):
        msg = f"the base sample of a Sobol analysis is a power of two ≥ 2 (got {base_n})"
        raise ValueError(msg)
    plan = prep.plan
    seed = prep.scenario.seed if seed is None else seed
    draws = draw_parameters(plan, seed, QUANTILE_DRAWS)
    facs = factors(plan, draws)
    names: list[str] = []
    groups: list[str] = []
    for f in facs:
        for c in f.columns:
            names.append(c)
            groups.append(f.name)
        if f.delay_rule >= 0:
            names.append(f"noise:{f.delay_rule}")
            groups.append(f.name)
    if not names:
        msg = (f"{prep.scenario.path or prep.scenario.name}: nothing in this scenario is drawn "
               "(every duration, cap and time is fixed, no unplanned stops), so there is no "
               "spread to attribute")
        raise ScenarioError(msg)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names),
               "groups": groups}
    u = np.asarray(sobol_sample.sample(problem, base_n, calc_second_order=False, seed=seed))
    n = len(u)
    values = np.repeat(draws.values[:1], n, axis=0)
    noise = np.zeros((n, len(plan.delay_rules)), dtype=np.int64)
    for k, name in enumerate(names):
        if name.startswith("noise:"):
            noise[:, int(name[6:])] = (u[:, k] * 2**KEY_BITS).astype(np.int64)
        else:
            col = draws[name]
            sorted_col = np.sort(col)
            probs = (np.arange(len(col)) + 0.5) / len(col)
            values[:, draws.names.index(name)] = np.interp(u[:, k], probs, sorted_col)
    table = ParameterTable(plan.parameters, values, noise if noise.shape[1] else np.zeros(
        n, dtype=np.int64), seed)
    mc = run_monte_carlo(plan, params=table, workers=workers, scheduler=scheduler,
                         progress=progress)
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
                             seed)


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
    from simulator.plots import _plt, _save

    plt = _plt()
    o = result.destination
    order = result.ranked(o)[::-1]
    legs = [i for i, op in enumerate(result.outputs)
            if op.kind in ("leg", "elapsed") and result.spread(i)]
    nf = len(result.factors)
    heat_w = 1.5 + 0.38 * max(len(legs), 3)
    fig, (ax, hx) = plt.subplots(1, 2, figsize=(7.5 + heat_w, 2.6 + 0.42 * max(nf, 4)),
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
    _save(fig, path)
