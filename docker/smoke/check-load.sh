#!/bin/bash
# Checks what one `etl run` left behind after `docker compose up -d --wait` loaded
# docker/localstack/sample-messages.jsonl into login-queue: every valid line is one row with
# properly masked columns, no raw IP or device id is stored anywhere, the wrong-shape lines are
# rejected, and both queues are empty. Used by .github/workflows/smoke.yml; run it locally
# the same way:
#
#   docker compose up -d --wait && cp .env.example .env && npx etl run && bash docker/smoke/check-load.sh
#
# Expects a fresh stack (one run over one load of the samples). PSQL and AWSLOCAL can point the
# checks at other servers, e.g. PSQL="psql postgres://postgres:postgres@localhost:5432/postgres".
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."

read -r -a psql <<<"${PSQL:-docker compose exec -T postgres psql --username=postgres --dbname=postgres}"
read -r -a awslocal <<<"${AWSLOCAL:-docker compose exec -T -e AWS_ACCESS_KEY_ID=test -e AWS_SECRET_ACCESS_KEY=test -e AWS_DEFAULT_REGION=us-east-1 -e DISABLE_DEPRECATION_NOTICE=1 localstack awslocal}"
sample_file="${SAMPLE_MESSAGES_FILE:-docker/localstack/sample-messages.jsonl}"

# What the sample file should produce, computed from the file itself (Node parses the JSON):
# total lines, valid lines (a non-empty user_id), distinct raw IPs and device ids of the valid
# lines, and every raw IP and device id as one comma-separated list.
summary="$(node -e '
  const lines = require("node:fs").readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.trim());
  const events = lines.map((l) => JSON.parse(l));
  const valid = events.filter((e) => typeof e.user_id === "string" && e.user_id !== "");
  const ips = new Set(valid.map((e) => e.ip));
  const devices = new Set(valid.map((e) => e.device_id));
  const raw = [...new Set(events.flatMap((e) => [e.ip, e.device_id]).filter((v) => typeof v === "string"))];
  console.log(lines.length, valid.length, ips.size, devices.size, raw.join(","));
' "$sample_file")"
read -r total valid distinct_ips distinct_devices raw_values <<<"$summary"
rejected=$((total - valid))
if ((valid == 0 || rejected == 0)); then
  echo "the sample file should hold valid and wrong-shape lines (valid=$valid rejected=$rejected)" >&2
  exit 2
fi

passed=0
failed=0
check() { # check <description> <expected> <actual>
  if [[ "$3" == "$2" ]]; then
    echo "ok - $1 ($3)"
    passed=$((passed + 1))
  else
    echo "not ok - $1: expected $2, got $3"
    failed=$((failed + 1))
  fi
}
# One SQL statement on stdin, one value out. psql interpolates :'var' only in input it reads
# (stdin or -f), not in -c.
sql() {
  "${psql[@]}" --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 "$@"
}

check "rows in user_logins = valid sample lines" "$valid" "$(sql <<<'SELECT count(*) FROM user_logins;')"

check "masked_ip and masked_device_id are 64 lower-case hex characters" 0 "$(sql <<<"
  SELECT count(*) FROM user_logins
  WHERE masked_ip IS NULL OR masked_ip !~ '^[0-9a-f]{64}\$'
     OR masked_device_id IS NULL OR masked_device_id !~ '^[0-9a-f]{64}\$';")"

# Masking is deterministic: as many distinct masks as distinct raw values.
check "distinct masked_ip = distinct sample IPs" "$distinct_ips" \
  "$(sql <<<'SELECT count(DISTINCT masked_ip) FROM user_logins;')"
check "distinct masked_device_id = distinct sample device ids" "$distinct_devices" \
  "$(sql <<<'SELECT count(DISTINCT masked_device_id) FROM user_logins;')"

# A whole row as text contains every column; a raw IP (dots) or device id (NNN-NN-NNNN) cannot
# occur by accident in UUIDs, hex masks, integers or dates.
check "rows in user_logins containing a raw IP or device id" 0 "$(sql -v raw="$raw_values" <<<"
  SELECT count(*) FROM user_logins t
  WHERE EXISTS (SELECT 1 FROM unnest(string_to_array(:'raw', ',')) AS r(v) WHERE strpos(t::text, r.v) > 0);")"
check "rows in etl.rejected_messages containing a raw IP or device id" 0 "$(sql -v raw="$raw_values" <<<"
  SELECT count(*) FROM etl.rejected_messages t
  WHERE EXISTS (SELECT 1 FROM unnest(string_to_array(:'raw', ',')) AS r(v) WHERE strpos(t::text, r.v) > 0);")"

check "wrong-shape lines rejected as missing_user_id" "$rejected" \
  "$(sql <<<"SELECT count(*) FROM etl.rejected_messages WHERE reason = 'missing_user_id';")"
check "rows in etl.rejected_messages" "$rejected" "$(sql <<<'SELECT count(*) FROM etl.rejected_messages;')"
check "messages in the ledger etl.processed_messages" "$total" \
  "$(sql <<<'SELECT count(*) FROM etl.processed_messages;')"
check "exit code recorded for the last run in etl.runs" 0 \
  "$(sql <<<'SELECT exit_code FROM etl.runs ORDER BY run_id DESC LIMIT 1;')"

queue_depth() { # visible and in-flight messages, e.g. "0 0"
  local url
  url="$("${awslocal[@]}" sqs get-queue-url --queue-name "$1" --query QueueUrl --output text)"
  "${awslocal[@]}" sqs get-queue-attributes --queue-url "$url" \
    --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    --query 'Attributes.[ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible]' \
    --output text | tr -s '[:space:]' ' ' | sed 's/ $//'
}
check "login-queue visible and in-flight messages" "0 0" "$(queue_depth login-queue)"
check "login-queue-dlq visible and in-flight messages" "0 0" "$(queue_depth login-queue-dlq)"

echo "$passed passed, $failed failed"
((failed == 0))
