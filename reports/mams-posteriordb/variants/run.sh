#!/bin/bash
# Our MAMS with other settings on the mams-posteriordb suite's 35 posteriors, its seeds, budget
# and starts, one `nextstat run` per posterior and seed, artifacts in variants/NAME/ (a run
# whose artifact is there already is skipped, so an interrupted variant resumes):
#
#     bash reports/mams-posteriordb/variants/run.sh NAME [--set KEY=VALUE ...]
#     e.g. run.sh lowrank-mean-ess --set 'adaptation="fisher-lowrank"' --set 'length_rule="mean-ess"'
#
# compare.py then sets each variant beside the suite's committed rows.
set -e
cd "$(dirname "$0")/../../.."
export NEXTSTAT_POSTERIORDB=${NEXTSTAT_POSTERIORDB:-../shared/posteriordb}
PYTHON=${PYTHON:-.venv/bin/python}
name=${1:?usage: run.sh NAME [--set KEY=VALUE ...]}
shift
out=reports/mams-posteriordb/variants/$name
mkdir -p "$out"
for case in $(grep "^  - pdb:" config/suites/mams-posteriordb.yaml | sed 's/  - //'); do
  for seed in 42 123 777; do
    artifact=$out/${case#pdb:}_$seed.json
    [ -e "$artifact" ] && continue
    "$PYTHON" -m nextstat run --case "$case" --engine nextstat_mams --seed $seed --budget 4x1000x1000 \
      --label "nextstat_mams_$name" --suite mams-posteriordb \
      --set target_accept=0.9 --set eps_jitter=0.1 "$@" --out "$artifact" || true
  done
done
