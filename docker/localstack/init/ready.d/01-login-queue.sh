#!/bin/bash
# LocalStack READY hook (mounted into /etc/localstack/init/ready.d/ by docker-compose.yml): creates
# login-queue with its dead-letter queue, then loads the sample messages.
#
# LocalStack runs this file directly, so it must stay executable and keep LF line endings
# (docker/.gitattributes). A non-zero exit marks it ERROR and the compose health check fails.
#
# LocalStack Community keeps queues in memory: every container start begins empty and runs this
# script once, so the messages are loaded once per start. Run again by hand, it changes nothing
# while the queue still holds messages (create-queue is idempotent for identical attributes,
# and loading is skipped when the queue is not empty).
set -euo pipefail
# Let failures inside $(...) stop the script too.
shopt -s inherit_errexit

# The AWS CLI needs credentials even for LocalStack; test/test is the account 000000000000 that
# login-etl also uses when SQS_ENDPOINT is set without credentials. Same region as the app default.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
# Newer awslocal releases print a deprecation banner on every call; keep the log readable.
export DISABLE_DEPRECATION_NOTICE=1

queue_name="login-queue"
dlq_name="login-queue-dlq"
max_receive_count=5
sample_file="${SAMPLE_MESSAGES_FILE:-/opt/login-etl/sample-messages.jsonl}"
# Overridable for a dry run outside the container, e.g. AWSLOCAL="aws --endpoint-url http://localhost:4566".
read -r -a awslocal <<<"${AWSLOCAL:-awslocal}"

log() { echo "[login-etl init] $*"; }

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# 1. Dead-letter queue first: the main queue's RedrivePolicy needs its ARN.
dlq_url="$("${awslocal[@]}" sqs create-queue --queue-name "$dlq_name" --query QueueUrl --output text)"
dlq_arn="$("${awslocal[@]}" sqs get-queue-attributes --queue-url "$dlq_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)"
log "dead-letter queue $dlq_arn"

# 2. The main queue. A message received maxReceiveCount times without being deleted moves to the
#    DLQ. RedrivePolicy is itself a JSON string inside the attributes JSON, hence the escaped
#    quotes (an ARN holds only letters, digits, '-' and ':', so it needs no escaping).
cat >"$work_dir/attributes.json" <<EOF
{
  "RedrivePolicy": "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"$max_receive_count\"}"
}
EOF
queue_url="$("${awslocal[@]}" sqs create-queue --queue-name "$queue_name" \
  --attributes "file://$work_dir/attributes.json" --query QueueUrl --output text)"
log "queue $queue_url"

if [[ "${LOAD_SAMPLE_MESSAGES:-1}" != "1" ]]; then
  log "LOAD_SAMPLE_MESSAGES=${LOAD_SAMPLE_MESSAGES}: leaving the queue empty"
  exit 0
fi

# 3. Sample messages, unless the queue already holds some (a second run by hand).
queued() {
  local counts n total=0
  counts="$("${awslocal[@]}" sqs get-queue-attributes --queue-url "$queue_url" \
    --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    ApproximateNumberOfMessagesDelayed \
    --query 'Attributes.[ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible, ApproximateNumberOfMessagesDelayed]' \
    --output text)"
  # Visible + in flight + delayed; an attribute the server does not report prints as "None".
  for n in $counts; do
    if [[ "$n" =~ ^[0-9]+$ ]]; then total=$((total + n)); fi
  done
  echo "$total"
}
already="$(queued)"
if [[ "$already" != "0" ]]; then
  log "queue already holds $already messages: not loading the samples again"
  exit 0
fi

# Each JSONL line is one message body, sent byte for byte. SendMessageBatch takes at most 10
# entries; building its --entries JSON with Python (present wherever awslocal is, since the AWS
# CLI is a Python program) avoids quoting JSON inside JSON in the shell.
python3 - "$sample_file" "$work_dir" <<'PY'
import json, sys

sample_file, out_dir = sys.argv[1], sys.argv[2]
with open(sample_file, encoding="utf-8") as f:
    bodies = [line.rstrip("\r\n") for line in f if line.strip()]
for start in range(0, len(bodies), 10):
    entries = [
        {"Id": f"m{start + i}", "MessageBody": body}
        for i, body in enumerate(bodies[start:start + 10])
    ]
    with open(f"{out_dir}/batch-{start // 10:04d}.json", "w", encoding="utf-8") as out:
        json.dump(entries, out)
PY

expected="$(grep -c '[^[:space:]]' "$sample_file")"
for batch in "$work_dir"/batch-*.json; do
  # SendMessageBatch succeeds as a call even when single entries fail: count the failures.
  # (The backticks are a JMESPath literal, not a shell expansion.)
  # shellcheck disable=SC2016
  failed="$("${awslocal[@]}" sqs send-message-batch --queue-url "$queue_url" \
    --entries "file://$batch" --query 'length(Failed || `[]`)' --output text)"
  if [[ "$failed" != "0" ]]; then
    log "ERROR: $failed entries of $(basename "$batch") were not sent"
    exit 1
  fi
done

loaded="$(queued)"
if [[ "$loaded" != "$expected" ]]; then
  log "ERROR: expected $expected messages in $queue_name, found $loaded"
  exit 1
fi
log "loaded $loaded sample messages from $(basename "$sample_file") into $queue_name"
