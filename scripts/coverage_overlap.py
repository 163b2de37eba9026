"""Which tests cover lines that no other test covers, from coverage's per-test contexts.

Tests marked ``no_cover`` run untraced (see ``tests/conftest.py``): a statistical or end-to-end
test through lines that small tests cover already costs seconds traced and adds nothing to the
coverage figure. Before marking one, check that none of its lines is covered by it alone:

    .venv/bin/python -m pytest -n 2 --cov --cov-context=test --cov-report=
    .venv/bin/python scripts/coverage_overlap.py                   # every traced test
    .venv/bin/python scripts/coverage_overlap.py NAME [NAME ...]   # these tests, together

The first form prints, for every test, how many lines only it covers; the second the lines
that only the named tests (matched by substring) cover, which must be none for all of them to
be marked. A test already marked is not traced and does not appear: unmark it to check it.
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
from pathlib import Path

from coverage.numbits import numbits_to_nums

Line = tuple[str, int]


def covered_by_test(data_file: Path) -> dict[str, set[Line]]:
    """The lines each test covered (setup, call and teardown together)."""
    db = sqlite3.connect(data_file)
    try:
        contexts = dict(db.execute("select id, context from context"))
        files = dict(db.execute("select id, path from file"))
        out: dict[str, set[Line]] = collections.defaultdict(set)
        for file_id, context_id, bits in db.execute(
                "select file_id, context_id, numbits from line_bits"):
            test = contexts[context_id].split("|")[0]
            if test:  # the empty context: imports and collection, before any test
                out[test].update((files[file_id], n) for n in numbits_to_nums(bits))
        return out
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="tests to check together (substrings)")
    parser.add_argument("--data", type=Path, default=Path(".coverage"),
                        help="coverage data file with per-test contexts (default .coverage)")
    args = parser.parse_args()
    by_test = covered_by_test(args.data)
    if not by_test:
        parser.error(f"{args.data}: no per-test contexts; run pytest with --cov-context=test")
    if not args.names:
        owners: dict[Line, int] = collections.Counter(
            line for lines in by_test.values() for line in lines)
        for test in sorted(by_test):
            alone = sum(owners[line] == 1 for line in by_test[test])
            print(f"{alone:5d}  {test}")
        return
    chosen = {t for t in by_test if any(name in t for name in args.names)}
    others = set().union(*(lines for t, lines in by_test.items() if t not in chosen))
    lost = sorted(set().union(*(by_test[t] for t in chosen)) - others)
    print(f"{len(chosen)} tests; {len(lost)} lines covered by them alone")
    for path, line in lost:
        print(f"  {path}:{line}")


if __name__ == "__main__":
    main()
