#!/usr/bin/env bash
# One entry for the README's two commands. Sets up .venv idempotently, then:
#   scripts/dev.sh app [--screenshot FILE]   open the app on the embedded example project
#   scripts/dev.sh test [pytest args]         run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${PYTHON:-python3}
stamp=$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    # The CPU build of torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

cmd=${1:-app}
shift || true
setup
case "$cmd" in
  app)
    if [ "${1:-}" = "--screenshot" ] || { [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ]; }; then
      out=${2:-mammo-annotator.png}
      [ "${1:-}" = "--screenshot" ] || echo "no display found: rendering the app headless to $out"
      QT_QPA_PLATFORM=offscreen exec "$VENV/bin/mammo-annotator" screenshot --out "$out"
    fi
    exec "$VENV/bin/mammo-annotator" gui
    ;;
  test)
    export QT_QPA_PLATFORM=offscreen
    # pytest exits 5 when it collects no test: that is a failure here, as every non-zero code.
    # Two worker processes (pytest-xdist), a test file to each at a time so that module fixtures
    # are built once: the suite takes about 11 minutes on two cores instead of 15.
    # MAMMO_TEST_WORKERS=0 runs it in this process (a debugger, -x, -s).
    exec "$VENV/bin/python" -m pytest -q -n "${MAMMO_TEST_WORKERS:-2}" --dist loadfile "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh app [--screenshot FILE] | test [pytest args]" >&2
    exit 2
    ;;
esac
