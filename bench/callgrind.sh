#!/bin/bash
# Instructions per request of one kind, in-process on SQLite (see bench/instructions.py):
#   bash bench/callgrind.sh DATABASE CLINIC_JSON KIND REQUESTS
# The database is copied first, so P1's writes never change the clinic you measure next.
set -euo pipefail
cd "$(dirname "$0")/.."
database=$1 clinic=$2 kind=$3 requests=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$database" "$work/clinic.db"
PYTHONPATH=. valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/out" \
    .venv/bin/python -m bench.instructions count "$work/clinic.db" "$clinic" "$kind" "$requests" \
    >"$work/stdout" 2>"$work/stderr" || { tail -20 "$work/stderr"; exit 1; }
grep "Collected" "$work/stderr" | awk -v n="$requests" -v k="$kind" \
    '{gsub(",", "", $4); printf "%s: %.2f M instructions per request\n", k, $4 / n / 1e6}'
