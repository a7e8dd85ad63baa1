#!/usr/bin/env bash
# The Docker smoke test (.github/workflows/smoke.yml, job quickstart) without Docker, against
# LocalStack's own code running on this host. Run through test/with-sqs.js, which starts
# LocalStack with docker/localstack/init/ready.d as its init hooks and an embedded Postgres, and
# sets SQS_ENDPOINT and DATABASE_URL (the ports compose publishes are not assumed to be free):
#
#   node dist/test/with-sqs.js localstack --init docker/localstack/init/ready.d --postgres \
#     -- bash .ci/smoke-localstack.sh
#
# Steps, as in the workflow: the health check compose uses must pass (init hook finished, queue
# and DLQ created, samples loaded); the Postgres init SQL of compose runs; `.env.example` is the
# configuration (copied to .env; the real environment wins for the two endpoints, as documented);
# `npx etl run` drains the queue; docker/smoke/check-load.sh checks the result.
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
: "${SQS_ENDPOINT:?run through test/with-sqs.js}" "${DATABASE_URL:?run through test/with-sqs.js}"
venv="${ETL_TEST_VENV:-$repo/.venv-ci}"
aws_cli="$venv/bin/aws --endpoint-url $SQS_ENDPOINT"

echo "== LocalStack health check (docker/localstack/healthcheck.sh)"
HEALTHCHECK_BASE_URL="$SQS_ENDPOINT" bash "$repo/docker/localstack/healthcheck.sh"

echo "== Postgres init SQL (docker/postgres/init, as the image's entrypoint runs it)"
# psql connects with the PG* variables with-sqs.js sets, never a URL with a password in argv.
: "${PGPASSWORD:?run through test/with-sqs.js --postgres}"
for f in "$repo"/docker/postgres/init/*.sql; do
  psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -f "$f"
done

echo "== npx etl run with .env.example"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$repo/.env.example" "$work/.env"
# --no-install: this repository's own bin, never a registry package of that name.
(cd "$work" && timeout 300 npx --no-install --prefix "$repo" etl run)

echo "== checks (docker/smoke/check-load.sh)"
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  PSQL="psql" AWSLOCAL="$aws_cli" bash "$repo/docker/smoke/check-load.sh"
