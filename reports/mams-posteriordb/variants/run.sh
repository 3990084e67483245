#!/bin/bash
# Our MAMS with other settings on a suite's cases (by default mams-posteriordb's 35
# posteriors), its seeds (42, 123, 777), budget (4 x (1000 + 1000)) and starts, one `nextstat
# run` per case and seed, artifacts in reports/SUITE/variants/NAME/ (a run whose artifact is
# there already is skipped, so an interrupted variant resumes):
#
#     [SUITE=mams-cpu] [ENGINE=...] [BUDGET=...] bash reports/mams-posteriordb/variants/run.sh NAME [--set KEY=VALUE ...]
#     e.g. run.sh lowrank-mean-ess --set 'adaptation="fisher-lowrank"' --set 'length_rule="mean-ess"'
#
# ENGINE (default nextstat_mams, which also gets the suites' target_accept=0.9 and
# eps_jitter=0.1) and BUDGET (default 4x1000x1000) run another engine the same way, e.g.
# BlackJAX's MAMS as the mams-posteriordb suite's row runs it:
#     ENGINE=blackjax_mams BUDGET=16x1000x1000 run.sh blackjax_mams --set chain_method=vectorized \
#         --set target_accept=0.9 --set report_chains=16 --set kernel=dynamic
#
# compare.py then sets each variant beside the suite's committed rows.
set -e
cd "$(dirname "$0")/../../.."
export NEXTSTAT_POSTERIORDB=${NEXTSTAT_POSTERIORDB:-../shared/posteriordb}
PYTHON=${PYTHON:-.venv/bin/python}
SUITE=${SUITE:-mams-posteriordb}
ENGINE=${ENGINE:-nextstat_mams}
BUDGET=${BUDGET:-4x1000x1000}
ours=()
[ "$ENGINE" = nextstat_mams ] && ours=(--set target_accept=0.9 --set eps_jitter=0.1)
name=${1:?usage: run.sh NAME [--set KEY=VALUE ...]}
shift
out=reports/$SUITE/variants/$name
mkdir -p "$out"
cases=$("$PYTHON" -c "import sys, yaml; print(' '.join(yaml.safe_load(open(sys.argv[1]))['cases']))" "config/suites/$SUITE.yaml")
for case in $cases; do
  for seed in 42 123 777; do
    artifact=$out/${case#pdb:}_$seed.json
    [ -e "$artifact" ] && continue
    "$PYTHON" -m nextstat run --case "$case" --engine "$ENGINE" --seed $seed --budget "$BUDGET" \
      --label "${ENGINE}_$name" --suite "$SUITE" "${ours[@]}" "$@" --out "$artifact" || true
  done
done
