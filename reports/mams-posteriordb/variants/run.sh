#!/bin/bash
# Our MAMS with other settings on a suite's cases (by default mams-posteriordb's 35
# posteriors), its seeds (42, 123, 777), budget (4 x (1000 + 1000)) and starts, one `nextstat
# run` per case and seed, artifacts in reports/SUITE/variants/NAME/ (a run whose artifact is
# there already is skipped, so an interrupted variant resumes):
#
#     [SUITE=mams-cpu] bash reports/mams-posteriordb/variants/run.sh NAME [--set KEY=VALUE ...]
#     e.g. run.sh lowrank-mean-ess --set 'adaptation="fisher-lowrank"' --set 'length_rule="mean-ess"'
#
# compare.py then sets each variant beside the suite's committed rows.
set -e
cd "$(dirname "$0")/../../.."
export NEXTSTAT_POSTERIORDB=${NEXTSTAT_POSTERIORDB:-../shared/posteriordb}
PYTHON=${PYTHON:-.venv/bin/python}
SUITE=${SUITE:-mams-posteriordb}
name=${1:?usage: run.sh NAME [--set KEY=VALUE ...]}
shift
out=reports/$SUITE/variants/$name
mkdir -p "$out"
cases=$("$PYTHON" -c "import sys, yaml; print(' '.join(yaml.safe_load(open(sys.argv[1]))['cases']))" "config/suites/$SUITE.yaml")
for case in $cases; do
  for seed in 42 123 777; do
    artifact=$out/${case#pdb:}_$seed.json
    [ -e "$artifact" ] && continue
    "$PYTHON" -m nextstat run --case "$case" --engine nextstat_mams --seed $seed --budget 4x1000x1000 \
      --label "nextstat_mams_$name" --suite "$SUITE" \
      --set target_accept=0.9 --set eps_jitter=0.1 "$@" --out "$artifact" || true
  done
done
