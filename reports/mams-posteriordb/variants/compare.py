"""Variants of our MAMS (``run.sh``) beside rows of a suite report's committed summary, per
case: bulk (or, with ``--tail``, tail) ESS per sampling gradient, medians over seeds 42, 123, 777, with the seeds that
passed the health gate in brackets; then the medians and quartiles over cases of the ratios,
health passes, and reference misses.

    python reports/mams-posteriordb/variants/compare.py VARIANT [--against LABEL] [--nuts LABEL]
        [--summary FILE] [--tail]

VARIANT is a folder of artifacts (``reports/SUITE/variants/NAME``); ``--summary`` the report's
summary (default: ``summary.json`` two folders above VARIANT, the suite's own); ``--against``
the summary's MAMS row it replaces (default ``nextstat_mams_fisher_lowrank``), ``--nuts`` our
NUTS row with the matching metric (default ``nextstat_nuts_fisher_lowrank``).
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import statistics


def variant_runs(folder: pathlib.Path, ess: str = "bulk") -> dict[str, list[tuple[float | None, bool, str | None]]]:
    """case -> per seed (``ess`` ESS per sampling gradient, health passed, correctness verdict)."""
    runs: dict[str, list] = collections.defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        artifact = json.loads(path.read_text())
        if artifact.get("status") != "ok":
            runs[artifact["case"]].append((None, False, None))
            continue
        per_grad = artifact["diagnostics"][f"min_ess_{ess}"] / artifact["gradients"]["sampling"]
        runs[artifact["case"]].append(
            (per_grad, bool(artifact["quality"]["passed"]), artifact["correctness"]["verdict"])
        )
    return runs


def quartiles(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.2f}x [{q1:.2f}, {q3:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", type=pathlib.Path)
    parser.add_argument("--against", default="nextstat_mams_fisher_lowrank")
    parser.add_argument("--nuts", default="nextstat_nuts_fisher_lowrank")
    parser.add_argument("--summary", type=pathlib.Path)
    parser.add_argument("--tail", action="store_true", help="tail ESS per gradient instead of bulk")
    args = parser.parse_args()
    ess = "tail" if args.tail else "bulk"
    summary_path = args.summary or args.variant.resolve().parent.parent / "summary.json"
    if not summary_path.is_file():
        parser.error(f"{summary_path}: no such summary (give --summary)")
    summary = json.loads(summary_path.read_text())
    rows = {(row["label"], row["case"]): row for row in summary["rows"]}
    runs = variant_runs(args.variant, ess)
    if not runs:
        parser.error(f"{args.variant}: no artifacts")
    name = args.variant.name
    print(f"| case | `{args.against}` (health) | `{name}` (health) | over `{args.against}` | over `{args.nuts}` |")
    print("|---|---|---|---|---|")
    over_row, over_nuts = [], []
    passed = total = row_passed = row_total = 0
    failing, misses = [], []
    for case in sorted(runs):
        per_seed = runs[case]
        values = [v for v, _, _ in per_seed if v is not None]
        healthy = sum(ok for _, ok, _ in per_seed)
        passed, total = passed + healthy, total + len(per_seed)
        if healthy < len(per_seed):
            failing.append(case.removeprefix("pdb:"))
        misses += [(case, verdict) for _, _, verdict in per_seed if verdict not in ("pass", None)]
        row, nuts = rows[(args.against, case)], rows[(args.nuts, case)]
        row_passed, row_total = row_passed + row["health_passed"], row_total + row["n_ok"]
        base = row["metrics"][f"ess_{ess}_per_grad"]["median"]
        nuts_value = nuts["metrics"][f"ess_{ess}_per_grad"]["median"]
        if not values:
            print(f"| {case.removeprefix('pdb:')} | {base:.4f} ({row['health_passed']}/{row['n_ok']}) | failed | | |")
            continue
        value = statistics.median(values)
        over_row.append(value / base)
        over_nuts.append(value / nuts_value)
        print(
            f"| {case.removeprefix('pdb:')} | {base:.4f} ({row['health_passed']}/{row['n_ok']}) | {value:.4f} "
            f"({healthy}/{len(per_seed)}) | {value / base:.2f}x | {value / nuts_value:.2f}x |"
        )
    print(
        f"\n{len(runs)} cases. {ess.capitalize()} ESS per gradient, median [quartiles] over cases: "
        f"over `{args.against}` {quartiles(over_row)}; over `{args.nuts}` {quartiles(over_nuts)}, "
        f"below 1x on {sum(r < 1 for r in over_nuts)}."
    )
    print(
        f"Health: `{name}` {passed}/{total} (failing a seed: {', '.join(failing) or 'none'}); `{args.against}` {row_passed}/{row_total}."
    )
    print(f"Reference misses: {misses or 'none'}.")


if __name__ == "__main__":
    main()
