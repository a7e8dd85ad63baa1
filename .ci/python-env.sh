#!/usr/bin/env bash
# Builds .venv-ci (or $ETL_TEST_VENV): the pinned Python test tools of .ci/requirements-sqs.txt.
# Reused as long as the requirements file and the Python version are unchanged; rebuilt
# otherwise. Needs python3 (3.11 or later) with venv and pip, and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ETL_TEST_VENV:-.venv-ci}"
requirements=.ci/requirements-sqs.txt
python="${PYTHON:-python3}"

want="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" --version 2>&1)"
if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$want" ]]; then
  echo "== $venv is up to date ($want)"
  exit 0
fi
echo "== building $venv from $requirements with $("$python" --version 2>&1)"
rm -rf "$venv"
"$python" -m venv "$venv"
# (The grep drops pip's warnings about configured local indexes that do not exist on this machine.)
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" 2>&1 |
  { grep -v "^WARNING: Location .* is ignored" || true; }
"$venv/bin/pip" check
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/aws" --version
echo "$want" >"$venv/.installed"
