#!/bin/sh
# The interpreter `make` builds .venv with: the first Python 3.12 or 3.13 found on the path or
# in pyenv's versions, else python3 (any Python >= 3.11 runs trainsim). On 3.12+ coverage
# traces through sys.monitoring, which costs the test suite a small fraction of what the
# tracer of 3.11 costs (`make test`: about a third less CPU time).
root="${PYENV_ROOT:-$HOME/.pyenv}"
for candidate in python3.12 python3.13 "$root"/versions/3.12*/bin/python3 \
                 "$root"/versions/3.13*/bin/python3; do
    # run it to be sure: a pyenv shim for a version that is not selected exists but fails, and
    # a build without ensurepip (Debian's python3.X without python3.X-venv), ssl, sqlite3 or bz2
    # cannot make or run the environment
    if "$candidate" -c 'import sys, venv, ensurepip, ssl, sqlite3, bz2
sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13)))' >/dev/null 2>&1; then
        echo "$candidate"
        exit 0
    fi
done
echo python3
