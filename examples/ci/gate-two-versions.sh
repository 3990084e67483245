#!/usr/bin/env bash
# Gate a sampler package's pull request against its main branch with nextstat, on this
# machine: each checkout installed into its own environment (with nextstat), both run as
# rows of one small suite side by side, the pull request's row gated against main's.
#   bash examples/ci/gate-two-versions.sh PATH_TO_MAIN_CHECKOUT PATH_TO_PR_CHECKOUT ENGINE [WORKDIR]
# NEXTSTAT (default: the nextstat checkout this script is in) is what the environments
# install; CASES (default: "std_normal_d10 eight_schools") and BUDGET (default: 4x1000x4000)
# size the suite; PYTHON_MAIN and PYTHON_PR, where given, are environments already made
# (nextstat and each side's package installed), and nothing is installed. Exit status:
# the gate's (0 pass, 1 regression).
set -euo pipefail
main=$(realpath "$1"); pr=$(realpath "$2"); engine=$3; work=${4:-gate}
nextstat=${NEXTSTAT:-$(realpath "$(dirname "$0")/../..")}
cases=${CASES:-std_normal_d10 eight_schools}
IFS=x read -r chains warmup draws <<< "${BUDGET:-4x1000x4000}"
mkdir -p "$work"; work=$(realpath "$work")
if [[ -n "${PYTHON_MAIN:-}" && -n "${PYTHON_PR:-}" ]]; then
  python_main=$PYTHON_MAIN; python_pr=$PYTHON_PR
else
  for side in main pr; do
    python3 -m venv "$work/env-$side"
    "$work/env-$side/bin/pip" install --quiet "$nextstat" "${!side}"
  done
  python_main=$work/env-main/bin/python; python_pr=$work/env-pr/bin/python
fi
{
  echo "suite: gate"
  echo "seeds: [42, 123, 777]"
  echo "budget: {chains: $chains, warmup: $warmup, draws: $draws}"
  echo "reference_engine: main"
  echo "results_dir: $work/results"
  echo "reports_dir: $work/reports"
  echo "cases: [$(echo "$cases" | sed 's/ /, /g')]"
  echo "engines:"
  echo "  - {label: main, engine: $engine, python: $python_main}"
  echo "  - {label: pr, engine: $engine, python: $python_pr}"
} > "$work/suite.yaml"
driver=$python_main
"$driver" -m snakemake --snakefile "$nextstat/Snakefile" --directory "$work" --configfile "$work/suite.yaml" \
  --cores "$(nproc)" --keep-going
"$driver" -m nextstat gate --current "$work/results/gate/summary.json" --rows main=pr \
  --out "$work/gate.json" --markdown "$work/gate.md"
