"""Rebuild data/rail/corridors.osm.bz2 from the shared sources (../shared).

Usage: python scripts/build_rail_snapshot.py [--shared DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.network.snapshot import build_snapshot, default_shared_dir

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=default_shared_dir())
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "rail" / "corridors.osm.bz2")
    args = parser.parse_args()
    for line in build_snapshot(args.shared, args.out):
        print(line)


if __name__ == "__main__":
    main()
