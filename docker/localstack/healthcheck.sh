#!/bin/bash
# Health check for the localstack service in docker-compose.yml (run inside the container).
#
# LocalStack's own check only says that its services are up. `etl run` needs more: login-queue
# must exist and hold the sample messages, which the ready.d init script does after start-up.
# LocalStack reports init scripts at /_localstack/init/<stage>, e.g.
#   {"completed": true, "scripts": [{"stage": "READY", "name": "01-login-queue.sh", "state": "SUCCESSFUL"}]}
# "completed" turns true when the stage has run, even if a script failed, so the script states are
# checked too. Healthy means: the READY stage completed, our script is listed, and no script is in
# any state other than SUCCESSFUL (UNKNOWN, RUNNING or ERROR).
set -euo pipefail

endpoint="${HEALTHCHECK_BASE_URL:-http://127.0.0.1:4566}"
script_name="01-login-queue.sh"

if ! status="$(curl --silent --show-error --fail --max-time 3 "$endpoint/_localstack/init/ready")"; then
  echo "LocalStack does not answer yet" >&2
  exit 1
fi

if ! grep -Eq '"completed": *true' <<<"$status"; then
  echo "init scripts still running: $status" >&2
  exit 1
fi

if ! grep -Fq "\"$script_name\"" <<<"$status"; then
  echo "$script_name was not found by LocalStack (volume mount?): $status" >&2
  exit 1
fi

if grep -Eq '"state": *"(UNKNOWN|RUNNING|ERROR)"' <<<"$status"; then
  echo "an init script did not succeed (docker compose logs localstack): $status" >&2
  exit 1
fi
