#!/usr/bin/env bash
# `make versions`: the integration tests against the oldest and the newest Celery and kombu that
# pyproject.toml allows, each in its own venv (.venv-versions/oldest, .venv-versions/newest).
# The oldest are pinned by .ci/constraints-oldest.txt (= pyproject's lower bounds); the newest
# venv upgrades everything to the newest release the upper bounds allow.
# Usage: .ci/versions.sh [pytest arguments]   (default: tests/integration and the shape checks
# of activejob_celery/internals.py, tests/unit/test_internals.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
DIR=${VERSIONS_DIR:-.venv-versions}
[ "$#" -gt 0 ] || set -- tests/integration tests/unit/test_internals.py
pip_flags=(--quiet --disable-pip-version-check)

for which in oldest newest; do
    venv="$DIR/$which"
    test -x "$venv/bin/python" || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install "${pip_flags[@]}" --upgrade 'pip>=25.1'
    if [ "$which" = oldest ]; then
        "$venv/bin/python" -m pip install "${pip_flags[@]}" -e . --group test \
            -c .ci/constraints-oldest.txt
    else
        "$venv/bin/python" -m pip install "${pip_flags[@]}" --upgrade --upgrade-strategy eager \
            -e . --group test
    fi
    "$venv/bin/python" -m pip check
    "$venv/bin/python" -c 'import sys, celery, kombu, redis
print(f"==> {sys.argv[1]}: celery {celery.__version__}, kombu {kombu.__version__},"
      f" redis-py {redis.__version__}")' "$which"
    start=$SECONDS
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
    echo "==> $which: passed in $((SECONDS - start)) s"
done
