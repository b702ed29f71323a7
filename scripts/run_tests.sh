#!/usr/bin/env bash
# The whole test suite, as `make test` runs it. The end-to-end suite spends most of its time waiting on a
# running Airflow, so it runs beside the rest (unit, data, DAG integrity, scripts, integration incl. production
# mode, benchmark smoke) in a second pytest process; both must pass. Extra arguments go to both.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

start=$(date +%s)
"$PY" -m pytest tests/e2e -p no:cacheprovider "$@" > "$log_dir/e2e.log" 2>&1 &
e2e_pid=$!
"$PY" -m pytest --ignore=tests/e2e -p no:cacheprovider "$@"
rest=$?
rest_secs=$(( $(date +%s) - start ))
wait "$e2e_pid"
e2e=$?
echo
echo "==================== end-to-end suite (tests/e2e, ran alongside) ===================="
cat "$log_dir/e2e.log"
echo "whole suite: $(( $(date +%s) - start ))s (the rest: ${rest_secs}s); exit codes: rest=$rest e2e=$e2e"
[ "$rest" -eq 0 ] && [ "$e2e" -eq 0 ]
