#!/bin/bash
cd "$(dirname "$0")/../../.."
export NEXTSTAT_POSTERIORDB=${NEXTSTAT_POSTERIORDB:-../shared/posteriordb}
for c in $(grep "^  - pdb:" config/suites/mams-posteriordb.yaml | sed 's/  - //'); do
  for s in 42 123 777; do
    n=${c#pdb:}
    .venv/bin/python -m nextstat run --case $c --engine nextstat_mams --seed $s --budget 4x1000x1000 --label nextstat_mams_fisher --suite mams-posteriordb --set target_accept=0.9 --set eps_jitter=0.1 --set 'adaptation="fisher"' --out reports/mams-posteriordb/fisher-diagonal/runs/${n}_$s.json 
  done
done
