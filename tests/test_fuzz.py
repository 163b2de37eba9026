"""Property-based fuzzing of scenario files: whatever a user writes, the contract holds.

Hypothesis mutates valid scenarios (a value replaced by a hostile one, a field deleted or added)
and runs ``trainsim validate`` and ``trainsim run`` on the result, in-process. The contract:

* exit 0, or exit 2 with one line that names the file and the field — never 1, never a traceback;
* ``validate`` and ``run`` agree: a file that validates runs, one that does not is refused by
  both with the same message;
* nothing is left behind: a refused run writes no output folder and no temporary one.

``make test`` runs a small, fixed (derandomized) set of examples so the suite stays fast; set
``TRAINSIM_FUZZ_EXAMPLES=500 TRAINSIM_FUZZ_RANDOM=1`` for a longer campaign with fresh random
examples (``--hypothesis-show-statistics`` shows how many validated and ran).
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("TRAINSIM_FUZZ_EXAMPLES", "10"))


def _bases() -> list[dict[str, Any]]:
    plain = yaml.safe_load((ROOT / "scenarios" / "vladivostok-2019.yaml").read_text("utf-8"))
    # the same trip with its locomotive inline and two operating overrides, so that the
    # fuzzer reaches rolling-stock and operating-rule fields too
    rich = copy.deepcopy(plain)
    rich["train"]["locomotive"] = yaml.safe_load(
        (ROOT / "data" / "rolling_stock" / "ru-tep70.yaml").read_text("utf-8"))
    rich["train"]["cars"] = {"value": 12, "assumption": "fuzz base"}
    rich["operating"] = {
        "night": [{"country": "RU", "start": "23:00", "end": "05:00", "mode": "slow",
                   "speed_factor": 0.5, "reason": "fuzz base", "assumption": "fuzz base"}],
        "delays": [{"country": "RU", "per_100km": 0.5, "reason": "fuzz base",
                    "assumption": "fuzz base",
                    "duration": {"triangular": [5, 10, 30], "assumption": "fuzz base"}}],
    }
    rich["halts"].append({"at": "Ussuriysk", "kind": "stop",
                          "duration": {"uniform": [5, 15], "assumption": "fuzz base"}})
    return [plain, rich]


BASES = _bases()

NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 1e300, -1e300, 1e-300, math.nan, math.inf, -math.inf, True,
                     False, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
)
TEXTS = st.one_of(
    st.sampled_from([
        "", "25:99", "24:00", "00:00", "12:30", "9999-12-31 23:59 +10:00",
        "2019-04-24 11:40", "2019-04-24 11:40 Mars/Olympus", "1850-01-01 00:00 +09:00",
        "2019-04-24 20:00 +10:00", "Pyongyang", "Khasan", "Ussuriysk", "Vladivostok",
        "Tumangang", "Beijing", "Dong Dang", "border KP-RU", "border RU-KP", "depart-khasan",
        "vladivostok", "ru-ep1", "cn-df11z", "armored-train", "../../etc/passwd", "x.yaml",
        "/dev/zero", "a\x00b", "x" * 5000, "🚂", "halt", "slow", "stop", "claim", "RU", "KP"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)
ANYTHING = st.one_of(
    NUMBERS, TEXTS, st.none(), st.booleans(),
    st.lists(st.one_of(NUMBERS, TEXTS), max_size=4),
    st.dictionaries(TEXTS, st.one_of(NUMBERS, TEXTS), max_size=3),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _value_for(old: Any) -> st.SearchStrategy[Any]:
    """Hostile values, mostly of the old value's kind (so that they get past the type checks)."""
    if isinstance(old, bool):
        return st.one_of(st.booleans(), ANYTHING)
    if isinstance(old, int | float):
        scaled = st.sampled_from([-1, 0, 1e-9, 1e-3, 0.5, 2, 1e3, 1e6, 1e12]).map(
            lambda f: old * f)
        return st.one_of(scaled, NUMBERS, ANYTHING)
    if isinstance(old, str):
        return st.one_of(TEXTS, ANYTHING)
    if isinstance(old, list):
        return st.one_of(st.just([]), st.just(old[::-1]), st.just(old + old[-1:]),
                         st.just(old[:1]), ANYTHING)
    return ANYTHING


def _mutate(data: st.DataObject, doc: dict[str, Any]) -> list[str]:
    done = []
    # none at all too: the plain base must validate and run (Hypothesis tries the simplest
    # example first, so the fixed examples of `make test` include a file that runs)
    for _ in range(data.draw(st.integers(0, 3), label="mutations")):
        path = data.draw(st.sampled_from(_paths(doc)), label="path")
        *head, last = path
        parent: Any = doc
        for key in head:
            parent = parent[key]
        op = data.draw(st.sampled_from(["replace"] * 4 + ["delete", "add", "nudge"]), label="op")
        if op == "nudge":  # a plausible edit: most files stay valid, and must then run
            old = parent[last]
            if isinstance(old, str):
                parent[last] = old + " (edited)"
            elif isinstance(old, int | float) and not isinstance(old, bool):
                parent[last] = type(old)(old * data.draw(st.sampled_from([0.9, 1.1])))
        elif op == "replace":
            parent[last] = data.draw(_value_for(parent[last]), label="value")
        elif op == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            key = data.draw(st.sampled_from(["speed", "value", "source", "assumption", "reason",
                                             "kmh_range", "units", "from", "to", "hours"]))
            parent[last][key] = data.draw(ANYTHING, label="added")
        elif isinstance(parent[last], list):
            parent[last].append(data.draw(ANYTHING, label="item"))
        else:
            parent[last] = data.draw(ANYTHING, label="value")
        done.append(f"{op} {'.'.join(map(str, path))}")
    return done


def _check_refusal(err: str, path: Path) -> None:
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("trainsim: error: ") and "Traceback" not in err, err
    assert str(path) in err, f"does not name the file: {err!r}"
    assert "field '" in err, f"does not name the field: {err!r}"


@pytest.mark.slow
@pytest.mark.usefixtures("network")  # the network cache is built once, before the examples
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          derandomize=os.environ.get("TRAINSIM_FUZZ_RANDOM") is None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_scenarios_keep_the_contract(data: st.DataObject,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES), label="base"))
    mutations = _mutate(data, doc)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "fuzz.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        capsys.readouterr()
        checked = main(["validate", str(path)])
        validate_err = capsys.readouterr().err
        assert checked in (0, 2), f"{mutations}: validate exit {checked}: {validate_err}"
        if checked == 2:
            _check_refusal(validate_err, path)
        # shown by pytest --hypothesis-show-statistics: how many examples got how far
        event(f"validate exit {checked}")

        out = folder / "out"
        ran = main(["run", str(path), "-n", "2", "--workers", "1", "--quiet", "--out",
                    str(out)])
        run_err = capsys.readouterr().err
        assert ran == checked, f"{mutations}: validate {checked} but run {ran}: {run_err}"
        if ran == 2:
            assert run_err == validate_err, f"{mutations}: different messages"
            assert not out.exists(), f"{mutations}: a refused run wrote outputs"
        else:
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            assert sorted(manifest["files"]) == sorted(
                p.name for p in out.iterdir() if p.name != "manifest.json")
        left = [p.name for p in folder.iterdir() if p.name.startswith(".")]
        assert not left, f"{mutations}: leftovers {left}"
