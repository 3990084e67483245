"""Our MAMS with the Fisher diagonal against the mams-posteriordb report's variance MAMS and NUTS rows,
per posterior (bulk ESS per sampling gradient, medians over seeds 42, 123, 777; health passes).

    python reports/mams-posteriordb/fisher-diagonal/compare.py
"""

import collections
import glob
import json
import pathlib
import statistics as st

HERE = pathlib.Path(__file__).resolve().parent
s = json.load(open(HERE.parent / "summary.json"))
rows = {(r["label"], r["case"]): r for r in s["rows"]}
runs = collections.defaultdict(list)
for f in glob.glob(str(HERE / "runs" / "*.json")):
    a = json.load(open(f))
    if a.get("status") != "ok":
        runs[a["case"]].append((None, False, None))
        continue
    g = a["gradients"]["sampling"]
    runs[a["case"]].append((a["diagnostics"]["min_ess_bulk"] / g, a["quality"]["passed"], a["correctness"]["verdict"]))
out = []
ratios = []
ratios_nuts = []
hp_f = hp_v = 0
n_f = n_v = 0
fail_cases_f = []
fail_cases_v = []
miss_f = []
for case in sorted(runs):
    rs = runs[case]
    fb = st.median([r[0] for r in rs if r[0] is not None])
    hf = sum(bool(r[1]) for r in rs)
    n_f += len(rs)
    hp_f += hf
    miss = [r[2] for r in rs if r[2] not in ("pass", None)]
    v = rows[("nextstat_mams", case)]
    nu = rows[("nextstat_nuts", case)]
    vb = v["metrics"]["ess_bulk_per_grad"]["median"]
    hv = v["health_passed"]
    n_v += v["n_ok"]
    hp_v += hv
    nb = nu["metrics"]["ess_bulk_per_grad"]["median"]
    ratios.append(fb / vb)
    ratios_nuts.append(fb / nb)
    if hf < len(rs):
        fail_cases_f.append(case)
    if hv < v["n_ok"]:
        fail_cases_v.append(case)
    if miss:
        miss_f.append((case, miss))
    out.append(
        f"| {case[4:]} | {vb:.4f} ({hv}/{v['n_ok']}) | {fb:.4f} ({hf}/{len(rs)}) | {fb / vb:.2f}x | {fb / nb:.2f}x |"
    )
print(
    "| posterior | variance MAMS bulk ESS/grad (health) | Fisher MAMS (health) | Fisher / variance | Fisher MAMS / our NUTS |"
)
print("|---|---|---|---|---|")
print("\n".join(out))
q = lambda x: [round(v, 2) for v in st.quantiles(x, n=4)]
print(
    f"\n{len(runs)} posteriors; Fisher/variance median {st.median(ratios):.2f}x quartiles {q(ratios)}; vs our NUTS median {st.median(ratios_nuts):.2f}x {q(ratios_nuts)}, below 1x on {sum(r < 1 for r in ratios_nuts)}"
)
print(
    f"health: variance {hp_v}/{n_v} ({len(fail_cases_v)} posteriors fail a seed), fisher {hp_f}/{n_f} ({len(fail_cases_f)}): {[c[4:] for c in fail_cases_f]}"
)
print("correctness misses (fisher):", miss_f)
