"""trainsim installed from a wheel (not editable) works from any folder.

Slow (a wheel is built and installed into a new virtual environment), so it is not part of the
default run: ``make test-install`` runs it and ``.ci/run`` calls that after ``make test``. The
fast suite checks that the packaging covers every data folder (test_scenarios.py); this checks
that what the wheel carries is enough to run.

Nothing is downloaded: the wheel is built with the setuptools of the test environment
(``--no-build-isolation``) and installed without its dependencies, which the new environment
takes from the test environment's site-packages (a ``.pth`` line; the editable install of the
checkout is not among them, so only the wheel's trainsim can be imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.install


def _run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done


def test_a_wheel_installed_elsewhere_runs_the_bundled_scenarios(tmp_path: Path) -> None:
    env = {**os.environ, "TRAINSIM_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg",
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--wheel-dir", str(dist), str(ROOT)], cwd=tmp_path, env=env)
    (wheel,) = dist.glob("trainsim-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          "--no-deps", str(wheel)], cwd=tmp_path, env=env)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"], cwd=tmp_path, env=env).stdout.strip())
    (site / "_trainsim_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import simulator, simulator.settings as s; "
                  "print(simulator.__file__, s.installed, s.data_dir)"],
                 cwd=elsewhere, env=env).stdout.split()
    assert Path(where[0]).is_relative_to(venv) and where[1] == "True", where
    assert Path(where[2]).is_relative_to(venv)

    trainsim = str(venv / "bin" / "trainsim")
    _run([trainsim, "run", "vladivostok-2019", "-n", "50", "--quiet"], cwd=elsewhere, env=env)
    manifest = json.loads((elsewhere / "outputs" / "vladivostok-2019" / "manifest.json")
                          .read_text(encoding="utf-8"))
    assert {"map.html", "journey.gpkg", "summary.md"} <= set(manifest["files"])
    out = _run([trainsim, "validate", "hanoi-2019"], cwd=elsewhere, env=env).stdout
    assert "valid." in out
    schema = json.loads(_run([trainsim, "schema"], cwd=elsewhere, env=env).stdout)
    assert schema == json.loads((ROOT / "scenarios" / "scenario.schema.json").read_text("utf-8"))
    assert sorted(p.name for p in elsewhere.iterdir()) == ["outputs"]
