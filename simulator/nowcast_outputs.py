"""The files of a nowcast (``outputs/<scenario>/nowcast/``) and of the replay evaluation.

* ``eta.csv``: every later stop, border, halt and reported point (and the road leg's end): the
  median and 5–95 % band in local time and UTC before and after conditioning on the sightings,
  the shift of the median, and the chance that the train has passed by "now";
* ``sightings.csv``: each sighting as used: where it was placed, what the model expected there,
  the effective sample size after it, whether the particles were resampled and whether its
  uncertainty had to be widened;
* ``eta.png``: a fan chart of the arrival at the destination before and after each sighting;
* ``timedistance.png``: the string-line chart, before and after conditioning, with the
  sightings, "now" and the likely position then;
* ``map.html``: the journey map of the conditioned runs, with the likely position now as a band
  along the line, its median, and the sightings;
* ``summary.md``: all of it in words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np

from simulator import plots
from simulator._io import atomic_path
from simulator._io import write_csv as _write
from simulator._mapdata import coords_along, median_track
from simulator.journey import format_offset
from simulator.maps import write_html_map
from simulator.nowcast import NowcastResult
from simulator.nowcast_replay import TripReplay, summary
from simulator.planning import TimelineKind, TimelinePoint, Which
from simulator.plots import literal_text
from simulator.reports import defaults_line

__all__ = ["NOWCAST_FILES", "REPLAY_FILES", "eta_rows", "position_now", "write_nowcast",
           "write_replay"]

NOWCAST_FILES = ("eta.csv", "sightings.csv", "eta.png", "timedistance.png", "map.html",
                 "summary.md")
REPLAY_FILES = ("replay.csv", "replay.md", "replay.png")
_LEVELS = (0.05, 0.5, 0.95)


def _local(dt: datetime, tz: str) -> str:
    loc = dt.astimezone(ZoneInfo(tz)) if tz else dt
    off = loc.utcoffset() or timedelta(0)
    return loc.strftime("%Y-%m-%d %H:%M") + " " + format_offset(off.total_seconds())


def _utc(dt: datetime) -> str:
    return dt.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%SZ")


def _hm(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    m = round(abs(seconds) / 60)
    return f"{sign}{m // 60} h {m % 60:02d} min" if m >= 60 else f"{sign}{m} min"


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def _entries(result: NowcastResult) -> list[tuple[TimelinePoint, np.ndarray, np.ndarray]]:
    """(timeline point, prior times, posterior times) of every row that is not a station."""

    prep = result.prepared
    out = []
    for p, a, b in zip(prep.points, result.prior.point_times, result.posterior.point_times,
                       strict=True):
        if p.kind != TimelineKind.STATION:
            out.append((p, a, b))
    if prep.road_to and result.prior.road_arrival is not None \
            and result.posterior.road_arrival is not None:
        out.append((TimelinePoint(prep.road_to, TimelineKind.ROAD_ARRIVE, math.nan, None,
                                  Which.ROAD, tz=result.plan.tz_name[-1], detail="by road"),
                    result.prior.road_arrival, result.posterior.road_arrival))
    return out


def eta_rows(result: NowcastResult) -> list[dict[str, Any]]:
    """The rows of ``eta.csv``: every place and event after the last sighting."""
    plan = result.plan
    epoch = plan.epoch
    prep = result.prepared
    last = result.sightings[-1] if result.sightings else None
    last_s = last.window_s(epoch)[0] if last else -math.inf
    reported: dict[int, str] = {}
    for rt in prep.scenario.reported.times:
        point = prep.reported_point.get(rt.id)
        if point is not None:
            lo, hi = rt.time
            reported.setdefault(point, lo.strftime("%Y-%m-%d %H:%M") + (
                "" if lo == hi else "–" + hi.strftime("%H:%M")) + f" ({lo.strftime('%z')})")
    rows = []
    for p, prior, post in _entries(result):
        qa = np.quantile(prior, _LEVELS)
        qb = np.quantile(post, _LEVELS)
        earlier = last is not None and not math.isnan(p.km) and (
            p.km < last.km - 1e-6 or (p.km <= last.km + 1e-6 and qb[1] <= last_s))
        if earlier:
            continue
        a = [epoch + timedelta(seconds=float(x)) for x in qa]
        b = [epoch + timedelta(seconds=float(x)) for x in qb]
        tz = p.tz or "UTC"
        rows.append({
            "place": p.name, "event": str(p.kind),
            "km": "" if math.isnan(p.km) else round(p.km, 1), "time_zone": tz,
            "median_local": _local(b[1], tz), "p05_local": _local(b[0], tz),
            "p95_local": _local(b[2], tz),
            "median_utc": _utc(b[1]), "p05_utc": _utc(b[0]), "p95_utc": _utc(b[2]),
            "prior_median_local": _local(a[1], tz), "prior_p05_local": _local(a[0], tz),
            "prior_p95_local": _local(a[2], tz),
            "prior_median_utc": _utc(a[1]), "prior_p05_utc": _utc(a[0]),
            "prior_p95_utc": _utc(a[2]),
            "shift_min": round((qb[1] - qa[1]) / 60),
            "passed_by_now_pct": round(100 * float(np.mean(post <= result.now_s)), 1),
            "reported": reported.pop(p.point, "") if p.point is not None else "",
        })
    return rows


def sighting_rows(result: NowcastResult) -> list[dict[str, Any]]:
    plan = result.plan
    rows = []
    for step in result.steps:
        s = step.sighting
        tz = plan.tz_name[step.point] or "UTC"
        when = [plan.epoch + timedelta(seconds=float(x)) for x in step.predicted_s]
        rows.append({
            "given": s.sighting.describe(), "from": s.sighting.origin, "place": s.name,
            "km": round(s.km, 1), "off_route_km": round(s.snap_km, 2), "kind": str(s.kind),
            "time_local": _local(s.sighting.earliest, tz) + (
                "" if s.sighting.latest == s.sighting.earliest
                else " – " + _local(s.sighting.latest, tz)),
            "uncertainty_min": round(s.uncertainty_s / 60, 1),
            "expected_median_local": _local(when[1], tz),
            "expected_p05_local": _local(when[0], tz), "expected_p95_local": _local(when[2], tz),
            "model_error_min": round(step.model_sigma_s / 60, 1),
            "used_sigma_min": round(step.sigma_s / 60, 1),
            "widened": "yes" if step.widened else "no",
            "ess": round(step.ess), "resampled": "yes" if step.resampled else "no",
            "note": s.note,
        })
    return rows


def position_now(result: NowcastResult) -> dict[str, Any]:
    """Where the train is likely to be now: km quantiles, the nearest places, what it does."""
    km = result.position_km
    q = np.quantile(km, (0.05, 0.25, 0.5, 0.75, 0.95))
    plan = result.plan
    route = result.prepared.route
    marks = sorted((m for m in route.marks if m.kind in ("station", "stop", "border")),
                   key=lambda m: m.km)

    def near(x: float) -> str:
        if not marks:
            return f"km {x:,.0f}"
        m = min(marks, key=lambda m: abs(m.km - x))
        d = x - m.km
        return f"at {m.name}" if abs(d) < 1 else \
            f"{abs(d):,.0f} km {'past' if d > 0 else 'before'} {m.name}"

    return {"q": q, "near": [near(float(x)) for x in q],
            "arrived": float(np.mean(km >= plan.length_km - 1e-6)),
            "not_left": float(np.mean(km <= 1e-6))}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:

    _write(path, rows)


# ----------------------------------------------------------------------------------------------
# charts
# ----------------------------------------------------------------------------------------------
@literal_text
def fan_chart(result: NowcastResult, path: Path) -> None:
    """The arrival at the destination (local time): 5–95 % and 25–75 % bands and the median,
    before any sighting and after each."""

    plan = result.plan
    tz = ZoneInfo(plan.tz_name[-1] or "UTC")
    prior = np.quantile(result.prior.mc.arrive_s[:, -1], (0.05, 0.25, 0.5, 0.75, 0.95))
    qs = np.array([prior, *[s.arrival_s for s in result.steps]])

    def when(x: Any) -> Any:
        return np.array([(plan.epoch + timedelta(seconds=float(v))).astimezone(tz).replace(
            tzinfo=None) for v in np.atleast_1d(x)])

    x = np.arange(len(qs))
    fig, ax = plots.subplots(figsize=(max(9.0, 1.3 * len(qs) + 5.5), 5.2), dpi=110)
    ax.fill_between(x, when(qs[:, 0]), when(qs[:, 4]), color="#aed6f1", alpha=0.9, lw=0,
                    label="5–95 %")
    ax.fill_between(x, when(qs[:, 1]), when(qs[:, 3]), color="#5dade2", alpha=0.9, lw=0,
                    label="25–75 %")
    ax.plot(x, when(qs[:, 2]), "o-", color="#1b4f72", lw=2, label="median")
    dest = result.prepared.itinerary.stops[-1]
    for rt in result.prepared.scenario.reported.times:
        point = result.prepared.reported_point.get(rt.id)
        if point == plan.n_points - 1 and rt.event == "arrive":
            lo, hi = (t.astimezone(tz).replace(tzinfo=None) for t in rt.time)
            ax.axhspan(lo, hi + timedelta(minutes=2), color="#c0392b", alpha=0.5, lw=0)
            source = "; ".join(rt.sources)
            ax.axhline(lo + (hi - lo) / 2, color="#c0392b", lw=1.2, ls="--",
                       label="reported arrival\n(" + (source if len(source) < 40
                                                       else source[:38] + "…") + ")")
    labels = ["before any\nsighting"]
    for s in result.steps:
        local = s.sighting.sighting.earliest.astimezone(
            ZoneInfo(plan.tz_name[s.point] or "UTC"))
        labels.append(f"{_short_name(s.sighting.name)}\n{local:%d %b %H:%M}")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlim(-0.3, len(qs) - 0.7)
    ax.yaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
    off = (plan.epoch.astimezone(tz).utcoffset() or timedelta(0)).total_seconds()
    ax.set_ylabel(f"arrival at {dest} (local time, {format_offset(off)})")
    ax.set_xlabel("after the sighting at (local time)")
    ax.set_title(f"{result.prepared.scenario.title}\nnowcast of the arrival at {dest} "
                 f"({result.particles:,} particles)", fontsize=10.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)
    fig.tight_layout()
    plots.save_figure(fig, path)


def _short_name(name: str) -> str:
    return name if len(name) <= 18 else name[:17] + "…"


@literal_text
def time_distance(result: NowcastResult, path: Path) -> None:
    """The string-line chart: km against time (UTC), before and after the sightings."""

    plan = result.plan
    km = np.repeat(plan.km, 2)
    epoch = plan.epoch.replace(tzinfo=None)

    def when(seconds: Any) -> Any:
        return np.datetime64(epoch) + (np.asarray(seconds) * 1000).astype("timedelta64[ms]")

    def bands(mc: Any) -> np.ndarray:
        q = np.empty((3, 2 * plan.n_points))
        q[:, 0::2] = mc.quantiles(_LEVELS)
        q[:, 1::2] = mc.quantiles(_LEVELS, depart=True)
        return q

    fig, ax = plots.subplots(figsize=(11, 6.5), dpi=110)
    a = bands(result.prior.mc)
    ax.fill_betweenx(km, when(a[0]), when(a[2]), color="#bbbbbb", alpha=0.45, lw=0,
                     label="before the sightings: 5–95 %")
    ax.plot(when(a[1]), km, color="#777777", lw=1.2, ls="--", label="before: median")
    b = bands(result.posterior.mc)
    ax.fill_betweenx(km, when(b[0]), when(b[2]), color="#5dade2", alpha=0.45, lw=0,
                     label="after the sightings: 5–95 %")
    ax.plot(when(b[1]), km, color="#1b4f72", lw=1.8, label="after: median")
    for i, p in enumerate(result.sightings):
        lo, hi = p.window_s(plan.epoch)
        u = p.uncertainty_s
        mid = 0.5 * (lo + hi)
        err = (np.array([[mid - lo + u], [hi - mid + u]]) * 1000).astype("timedelta64[ms]")
        x = when(np.array([mid]))
        ax.errorbar(x, [p.km], xerr=err, fmt="o", color="#c0392b", ms=7, capsize=4, zorder=5,
                    label="sightings (± uncertainty)" if i == 0 else None)
        ax.annotate(_short_name(p.name), (x[0], p.km), xytext=(6, -12),
                    textcoords="offset points", fontsize=7.5, color="#922b21")
    first = True
    for rt in result.prepared.scenario.reported.times:
        kmr = result.prepared.reported_km.get(rt.id)
        if kmr is None:
            continue
        lo = (rt.time[0] - plan.epoch).total_seconds()
        hi = (rt.time[1] - plan.epoch).total_seconds()
        ax.plot(when(np.array([0.5 * (lo + hi)])), [kmr], "D", mfc="none", mec="#111", ms=7,
                mew=1.3, zorder=4, label="reported times (scenario)" if first else None)
        first = False
    now = result.now_s
    pos = np.quantile(result.position_km, (0.05, 0.5, 0.95))
    t_now = when(np.array([now, now]))
    ax.axvline(t_now[0], color="#117a65", lw=1.2, ls=":")
    ax.plot(t_now, [pos[0], pos[2]], color="#117a65", lw=6, alpha=0.55,
            solid_capstyle="butt", label="position now: 5–95 %")
    ax.plot(t_now[:1], [pos[1]], "s", color="#117a65", ms=7, label="position now: median")
    for m in result.prepared.itinerary.marks:
        if m.kind in ("border", "gauge_change"):
            ax.axhline(m.km, color="#8e44ad" if m.kind == "border" else "#e67e22", lw=0.8,
                       ls=":")
            ax.text(ax.get_xlim()[0], m.km, f" {m.name} ({m.detail})", fontsize=7,
                    va="bottom", color="#555")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("km from " + result.prepared.itinerary.stops[0])
    ax.set_title(f"{result.prepared.scenario.title}: nowcast from {len(result.sightings)} "
                 f"sighting(s), now = {_utc(result.now)[:16]} UTC", fontsize=10.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    plots.save_figure(fig, path)


# ----------------------------------------------------------------------------------------------
# map
# ----------------------------------------------------------------------------------------------
def _map_script(result: NowcastResult) -> str:
    """JavaScript for the journey map: the likely position now (a band along the line and its
    median), the sightings, the time control set to now, and the nowcast's title."""


    plan = result.plan
    route = result.prepared.route
    at = coords_along(route)
    q = np.quantile(result.position_km, (0.05, 0.25, 0.5, 0.75, 0.95))

    def line(a: float, b: float) -> list[list[float]]:
        kms = np.linspace(a, b, max(2, min(400, int((b - a) / 0.5) + 2)))
        lat, lon = at(kms)
        return [[round(float(x), 5), round(float(y), 5)] for x, y in zip(lat, lon, strict=True)]

    lat, lon = at(np.asarray(float(q[2])))
    tz = plan.tz_name[int(np.clip(np.searchsorted(plan.km, q[2]), 0, plan.n_points - 1))]
    where = position_now(result)
    now_local = _local(result.now, tz or "UTC")
    popup_now = (f"<div class='ts-popup'><b>Likely position now</b><div class='ts-sub'>"
                 f"{escape(now_local)} · {_utc(result.now)[11:16]} UTC</div><table>"
                 f"<tr><td>median</td><td>km {q[2]:,.0f}: {escape(where['near'][2])}</td></tr>"
                 f"<tr><td>50 %</td><td>km {q[1]:,.0f}–{q[3]:,.0f}</td></tr>"
                 f"<tr><td>90 %</td><td>km {q[0]:,.0f}–{q[4]:,.0f}</td></tr></table>"
                 f"<div class='ts-band'>{result.particles:,} particles conditioned on "
                 f"{len(result.sightings)} sighting(s)</div></div>")
    sightings = []
    for step in result.steps:
        s = step.sighting
        zone = plan.tz_name[step.point] or "UTC"
        expected = plan.epoch + timedelta(seconds=float(step.predicted_s[1]))
        sightings.append({
            "lat": round(s.lat, 5), "lon": round(s.lon, 5), "name": s.name,
            "popup": (f"<div class='ts-popup'><b>Seen: {escape(s.name)}</b><div class='ts-sub'>"
                      f"km {s.km:,.1f}{' · ' + escape(s.note) if s.snap_km > 0 else ''}</div>"
                      f"<table><tr><td>{escape(str(s.kind))}</td><td>"
                      f"{escape(_local(s.sighting.earliest, zone))} "
                      f"±{s.uncertainty_s / 60:.0f} min</td></tr>"
                      f"<tr><td>expected</td><td>{escape(_local(expected, zone))}"
                      f"</td></tr><tr><td>ESS</td><td>{step.ess:,.0f}"
                      f"{' (resampled)' if step.resampled else ''}</td></tr></table></div>"),
        })
    track = median_track(result.posterior)
    frame = int(np.argmin(np.abs(track.t_s - result.now_s)))
    title = (f"<h1>Nowcast: {escape(result.prepared.scenario.title)}</h1><p>Now: "
             f"{escape(now_local)}. The green band is where the train likely is now (50 % "
             f"dark, 90 % light); red rings are the {len(result.sightings)} sighting(s). The "
             f"train and its time control follow the runs conditioned on them.</p>")
    data = {"band90": line(float(q[0]), float(q[4])), "band50": line(float(q[1]), float(q[3])),
            "median": [round(float(lat), 5), round(float(lon), 5)],
            "popupNow": popup_now, "sightings": sightings, "frame": frame, "title": title}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return """(function (d) {
  var ts = window.trainsim, map = ts.map;
  map.createPane("ts-now").style.zIndex = 640;
  var band = L.layerGroup().addTo(map);
  L.polyline(d.band90, {pane: "ts-now", color: "#117a65", weight: 16, opacity: 0.35,
                        lineCap: "butt"}).bindTooltip("likely position now: 90 %").addTo(band);
  L.polyline(d.band50, {pane: "ts-now", color: "#117a65", weight: 16, opacity: 0.6,
                        lineCap: "butt"}).bindTooltip("likely position now: 50 %").addTo(band);
  L.marker(d.median, {pane: "ts-now", title: "likely position now (median)",
    icon: L.divIcon({className: "", iconSize: [16, 16],
      html: "<div style='width:16px;height:16px;background:#117a65;border:2px solid #fff;" +
            "box-shadow:0 0 0 1px #117a65;box-sizing:border-box'></div>"})})
    .bindPopup(d.popupNow, {maxWidth: 360}).addTo(band);
  d.sightings.forEach(function (s) {
    L.circleMarker([s.lat, s.lon], {pane: "ts-now", radius: 9, color: "#c0392b", weight: 3,
                                    fill: false}).bindPopup(s.popup, {maxWidth: 380})
      .bindTooltip("seen: " + s.name).addTo(band);
  });
  var title = document.querySelector(".ts-title");
  if (title) { title.innerHTML = d.title; }
  var legend = document.querySelector(".ts-legend ul");
  if (legend) {
    legend.insertAdjacentHTML("afterbegin",
      "<li><span class='ts-key'><span style='display:inline-block;width:28px;height:10px;" +
      "background:#117a65;opacity:.6'></span></span>likely position now (50 %; 90 % lighter)" +
      "</li><li><span class='ts-key'><span style='display:inline-block;width:14px;" +
      "height:14px;border:3px solid #c0392b;border-radius:50%;box-sizing:border-box'>" +
      "</span></span>sighting</li>");
  }
  ts.show(Math.min(d.frame, ts.frames - 1));
  // open on the likely position now, with the country around it; zoom out for the route
  map.fitBounds(L.latLngBounds(d.band90).pad(1.5), {maxZoom: 8,
    paddingTopLeft: [60, 130], paddingBottomRight: [320, 190]});
}(""" + payload + "));"


# ----------------------------------------------------------------------------------------------
# summary
# ----------------------------------------------------------------------------------------------
def summary_markdown(result: NowcastResult, eta: list[dict[str, Any]]) -> str:
    plan = result.plan
    prep = result.prepared
    sc = prep.scenario
    where = position_now(result)
    q = where["q"]
    tz_now = plan.tz_name[int(np.clip(np.searchsorted(plan.km, q[2]), 0, plan.n_points - 1))]
    out = [f"# Nowcast: {sc.title}", "",
           f"Scenario `{sc.path}`; {result.particles:,} particles, seed {result.seed}; the "
           f"model's error on a leg {result.model_error:.0%} of the time run (see README, "
           "Nowcast).", "", defaults_line(prep), "", "## Sightings", "",
           "| sighting | placed at | model expected (5–95 %) | ESS | resampled |",
           "|---|---|---|---|---|"]
    for r in sighting_rows(result):
        off = f" ({r['off_route_km']} km off the route)" if r["off_route_km"] else ""
        wide = (f" (uncertainty widened to ±{r['used_sigma_min']} min)"
                if r["widened"] == "yes" else "")
        out.append(f"| {r['given']} | {r['place']}, km {r['km']:,}{off} | "
                   f"{r['expected_median_local'][5:16]} ({r['expected_p05_local'][5:16]} – "
                   f"{r['expected_p95_local'][5:16]}) | {r['ess']:,} | {r['resampled']}{wide} |")
    out += ["", "## Now", "",
            f"At {_local(result.now, tz_now or 'UTC')} the train is most likely "
            f"{where['near'][2]} (km {q[2]:,.0f}); 50 %: km {q[1]:,.0f}–{q[3]:,.0f}, "
            f"90 %: km {q[0]:,.0f}–{q[4]:,.0f} ({where['near'][0]} to {where['near'][4]})."]
    if where["arrived"] > 0.01:
        out.append(f"It has arrived at {prep.itinerary.stops[-1]} in "
                   f"{where['arrived']:.0%} of the particles.")
    out += ["", "## Arrival times from here", "",
            "| place | event | median (local) | 5–95 % | before the sightings | shift | "
            "reported |", "|---|---|---|---|---|---|---|"]
    for r in eta:
        if r["event"] in ("station",):
            continue
        out.append(f"| {r['place']} | {r['event'].replace('_', ' ')} | {r['median_local']} | "
                   f"{r['p05_local'][5:16]} – {r['p95_local'][5:16]} | "
                   f"{r['prior_median_local'][5:16]} | {_hm(60 * r['shift_min'])} | "
                   f"{r['reported']} |")
    if result.notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in result.notes]
    out += ["", "Map data © OpenStreetMap contributors (ODbL); see data/rail/README.md.", ""]
    return "\n".join(out)


def write_nowcast(result: NowcastResult, folder: Path) -> list[Path]:
    """Write every file of a nowcast into ``folder``."""

    folder.mkdir(parents=True, exist_ok=True)
    eta = eta_rows(result)
    write_csv(folder / "eta.csv", eta)
    write_csv(folder / "sightings.csv", sighting_rows(result))
    fan_chart(result, folder / "eta.png")
    time_distance(result, folder / "timedistance.png")
    write_html_map(result.posterior, folder / "map.html", extra_script=_map_script(result))
    with atomic_path(folder / "summary.md") as tmp:
        tmp.write_text(summary_markdown(result, eta), encoding="utf-8")
    return [folder / n for n in NOWCAST_FILES]


# ----------------------------------------------------------------------------------------------
# replay
# ----------------------------------------------------------------------------------------------
def replay_markdown(trips: Sequence[TripReplay], *, particles: int, model_error: float,
                    sensitivity: dict[float, list[TripReplay]] | None = None) -> str:
    """The replay's tables: headline figures, per trip, and every prediction."""

    s = summary(trips)

    def fig_row(label: str, rows: Sequence[Any]) -> str:
        f = s.figures(rows)
        if not f["n"]:
            return f"| {label} | 0 | – | – | – | – | – |"
        return (f"| {label} | {f['n']} | {f['run_mae_h']:.2f} | {f['run_cover']:.0%} | "
                f"{f['prior_cover']:.0%} | {f['nowcast_mae_h']:.2f} | "
                f"{f['nowcast_cover']:.0%} |")

    out = [f"Nowcast replay over the reported trips ({particles:,} particles, model error "
           f"{model_error:.0%} of a leg's time). Each trip's reported times are taken in route "
           "order as sightings; after the first *k* of them the nowcast predicts every later "
           "one. *Error*: the median minus the reported time (its middle), hours; *in band*: "
           "the reported time meets the 5–95 % band. *Before*: the same particles before any "
           "sighting, i.e. the unconditioned forecast, with the band `trainsim run` gives "
           "(*run*) and with the model's own error added as the nowcast adds it after a "
           "sighting (*+model error*).", "",
           *[f"{line}" for line in dict.fromkeys(t.defaults for t in trips if t.defaults)],
           "",
           "| predictions | n | median abs. error before (h) | in band before: run | "
           "+model error | median abs. error after (h) | in band after |",
           "|---|---|---|---|---|---|---|",
           fig_row("final arrival, sightings up to the trip's midpoint", s.midpoint_rows),
           fig_row("final arrival, every replay", s.final_rows),
           fig_row("every later reported time, every replay", s.all_rows), ""]
    if sensitivity:
        out += ["The same with other values of the model's error (sensitivity; the default "
                f"is {model_error:.0%}):", "",
                "| model error | midpoint: error after (h) | in band | every replay, final "
                "arrival: error after (h) | in band | every prediction: error (h) | in band |",
                "|---|---|---|---|---|---|---|"]
        for f, trips_f in sorted(sensitivity.items()):
            sf = summary(trips_f)
            m, fi, al = (sf.figures(r) for r in (sf.midpoint_rows, sf.final_rows,
                                                 sf.all_rows))
            out.append(f"| {f:.0%} | {m['nowcast_mae_h']:.2f} | {m['nowcast_cover']:.0%} | "
                       f"{fi['nowcast_mae_h']:.2f} | {fi['nowcast_cover']:.0%} | "
                       f"{al['nowcast_mae_h']:.2f} | {al['nowcast_cover']:.0%} |")
        out.append("")
    out += ["Final arrival per trip and replay:", "",
            "| trip | sightings used | last seen | error before (h) | in band before: run | "
            "+model error | error after (h) | 5–95 % after (h) | in band after |",
            "|---|---|---|---|---|---|---|---|---|"]
    for t in trips:
        if t.skipped:
            # trips as code: they are scenario names, as in the calibration's tables
            out.append(f"| `{t.scenario}` | – | not replayed: {t.skipped} | | | | | | |")
            continue
        for r in t.rows:
            if not r.final:
                continue
            d = r.row()
            mid = " (midpoint)" if r.midpoint else ""
            out.append(f"| `{t.scenario}` | {r.used}{mid} | {r.last_seen} (km {r.last_km:,.0f}) |"
                       f" {d['run_error_h']:+.2f} | {d['run_inside']} | {d['prior_inside']} | "
                       f"{d['nowcast_error_h']:+.2f} | {d['nowcast_band_h']} | "
                       f"{d['nowcast_inside']} |")
    return "\n".join(out) + "\n"


@literal_text
def replay_chart(trips: Sequence[TripReplay], path: Path) -> None:
    """Per trip: the error of the final arrival against the sightings used, before (grey) and
    after (blue) conditioning, with the 5–95 % bands."""
    done = [t for t in trips if t.rows]
    fig, axes = plots.subplots(1, max(len(done), 1), figsize=(4.6 * max(len(done), 1), 4.6),
                             dpi=110, squeeze=False)
    for ax, t in zip(axes[0], done, strict=False):
        rows = [r for r in t.rows if r.final]
        x = np.array([r.used for r in rows], dtype=float)
        mid = np.array([r.reported_mid_s for r in rows])
        pri = np.array([r.run_s for r in rows]).T - mid
        post = np.array([r.posterior_s for r in rows]).T - mid
        ax.fill_between(x, pri[0] / 3600, pri[2] / 3600, color="#cccccc", alpha=0.6, lw=0,
                        label="before (the run's forecast): 5–95 %")
        ax.plot(x, pri[1] / 3600, "--", color="#777", label="before: median")
        ax.errorbar(x, post[1] / 3600, yerr=[(post[1] - post[0]) / 3600,
                                             (post[2] - post[1]) / 3600],
                    fmt="o-", color="#1b4f72", capsize=4, label="after: median, 5–95 %")
        ax.axhline(0, color="#c0392b", lw=1.2, label="reported")
        for r in rows:
            if r.midpoint:
                ax.axvline(r.used, color="#117a65", ls=":", lw=1.2, label="midpoint")
        ax.set_xticks(x, [f"{r.used}\n{_short_name(r.last_seen)}" for r in rows], fontsize=7.5)
        ax.set_xlabel("reported times used as sightings (the last)")
        ax.set_ylabel("error of the final arrival (h)")
        ax.set_title(t.scenario, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               frameon=False)
    fig.suptitle("Nowcast replay: final arrival, before and after conditioning", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plots.save_figure(fig, path)


def write_replay(trips: Sequence[TripReplay], folder: Path, *, particles: int,
                 model_error: float,
                 sensitivity: dict[float, list[TripReplay]] | None = None) -> str:
    """Write replay.csv, replay.md and replay.png; return the markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "replay.csv", [r.row() for t in trips for r in t.rows])
    text = replay_markdown(trips, particles=particles, model_error=model_error,
                           sensitivity=sensitivity)
    with atomic_path(folder / "replay.md") as tmp:
        tmp.write_text("# Nowcast replay\n\n" + text, encoding="utf-8")
    replay_chart(trips, folder / "replay.png")
    return text
