"""Rebuild data/rail/corridors.osm.bz2 from the shared sources (../shared).

Usage: python scripts/build_rail_snapshot.py [--shared DIR] [--out FILE] [--xml-only]

Writes the OSM XML and, beside it, the parsed graph in trainsim's safe cache format
(corridors.graph.npz, keyed by the XML's SHA-256), so that no checkout has to parse the XML.

The recipe (which files, which joins, every fact with its source) is data/rail/recipe.yaml; the
methods are in scripts/railsnapshot/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from railsnapshot.build import (
    ROOT,
    build_snapshot,
    default_shared_dir,
    write_bundled_graph,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=default_shared_dir())
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "rail" / "corridors.osm.bz2")
    parser.add_argument("--xml-only", action="store_true",
                        help="do not parse the XML into the bundled graph (.graph.npz)")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        sys.exit(f"{args.shared}: shared source folder not found (give --shared DIR)")
    for line in build_snapshot(args.shared, args.out):
        print(line, flush=True)
    if not args.xml_only:
        print(write_bundled_graph(args.out))


if __name__ == "__main__":
    main()
