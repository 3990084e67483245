"""REPORT.md from a suite summary: headline, protocol, environment, one table per
backend and device, health gates, correctness, fairness lint, failures, overhead.

Charts go to ``charts/`` and every table also to ``tables/<name>.csv`` beside the
markdown: the Snakemake HTML report shows both folders as report items."""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .aggregate import ratio
from .charts import convergence_curves, grouped_bars, ratio_bars, start_times
from .engines.base import DEFAULT_SETTINGS

CHARTS, TABLES = "charts", "tables"


class _Sink:
    """Where the report's charts and CSV tables go (folders emptied first, so that a
    chart of a row that is gone does not linger)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        for name in (CHARTS, TABLES):
            shutil.rmtree(out_dir / name, ignore_errors=True)
            (out_dir / name).mkdir(parents=True)

    def chart(self, name: str) -> Path:
        return self.out_dir / CHARTS / name

    def table(self, name: str, rows: list[list[Any]], headers: list[str], **options) -> str:
        """The markdown table, and the same rows in ``tables/<name>.csv``."""
        with (self.out_dir / TABLES / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(rows)
        return tabulate(rows, headers=headers, tablefmt="github", **options)


def write_report(summary: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = _Sink(out_dir)
    tables = _tables(summary["rows"])
    lines = [f"# nextstat report: `{summary['suite']}`", ""]
    lines += [
        f"Generated {summary['created_utc']} from {len(summary['runs'])} run artifacts. "
        f"Headline figures are **medians over seeds {', '.join(map(str, summary['protocol']['seeds']))}**; "
        f"ratios are against `{summary['reference_engine']}` on the same case, backend and device "
        "(ratio of medians; higher is better).",
        "",
    ]
    lines += _tldr(summary, tables)
    lines += _protocol(summary, sink)
    lines += _environment(summary)
    for (backend, device), rows in tables.items():
        lines += _results_table(summary, backend, device, rows, sink)
        lines += _head_to_head(summary, backend, device, rows, sink)
        lines += _convergence(summary, backend, device, rows, sink)
    lines += _timings(summary, sink)
    lines += _health(summary, sink)
    lines += _controls(summary)
    lines += _correctness(summary, sink)
    lines += _fairness(summary)
    lines += _failures(summary)
    lines += _harness(summary)
    lines += _beside(out_dir)
    lines += _reproduce(summary)
    path = out_dir / "REPORT.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines).rstrip() + "\n")
    tmp.replace(path)
    return path


def _beside(out_dir: Path) -> list[str]:
    """Links to the other markdown files in the report's folder: the side-by-side
    benchmarks (``nextstat.benchmarks``) whose output was written there, each under its
    own first heading."""
    found = []
    for path in sorted(out_dir.glob("*.md")):
        if path.name == "REPORT.md":
            continue
        heading = next((line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#")),
                       path.stem)
        found.append(f"- [{path.name}]({path.name}): {heading}")
    if not found:
        return []
    return ["## Benchmarks beside this suite", "",
            "Measurements from `python -m nextstat.benchmarks.<name> --out ...` kept in this folder:", "",
            *found, ""]


def _tables(rows) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows grouped by backend and device: no table mixes CPU with GPU, or two devices."""
    tables: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        tables[(row["backend"], row["device"])].append(row)
    return dict(sorted(tables.items()))


#: the many-chain convergence figures (costs: fewer gradients per chain is better): the
#: first crossing of the threshold, and the first that lasts (diagnostics.ensemble_convergence)
CONVERGE, SETTLE = "grads_per_chain_to_converge", "grads_per_chain_to_settle"


def _median(row, metric):
    stats = row["metrics"].get(metric)
    return stats["median"] if stats else None


def _tldr(summary, tables) -> list[str]:
    ref = summary["reference_engine"]
    lines = ["## TL;DR", ""]
    for (backend, device), rows in tables.items():
        for case in sorted({r["case"] for r in rows}):
            ranked = sorted(
                (r for r in rows if r["case"] == case and _median(r, "ess_bulk_per_s")),
                key=lambda r: -_median(r, "ess_bulk_per_s"),
            )
            if not ranked:
                continue
            parts = []
            for r in ranked:
                ratio = r["ratios"].get("ess_bulk_per_s", {}).get("ratio_of_medians")
                grad = r["ratios"].get("ess_bulk_per_grad", {}).get("ratio_of_medians")
                tail = r["ratios"].get("ess_tail_per_grad", {}).get("ratio_of_medians")
                adaptation = (r.get("settings") or {}).get("adaptation")
                text = f"`{r['label']}`" + (f" [adaptation {adaptation}]" if adaptation else "")
                text += f" {_num(_median(r, 'ess_bulk_per_s'))} ESS/s"
                if ratio is not None:
                    tail_text = f", {tail:.2f}x tail ESS/grad" if tail else ""
                    text += f" ({ratio:.2f}x ESS/s, {grad:.2f}x ESS/grad{tail_text} vs `{ref}`)" if grad else f" ({ratio:.2f}x)"
                if _median(r, CONVERGE):
                    text += f", ensemble converged in {_num(_median(r, CONVERGE))} grads/chain"
                if r["health_passed"] < r["n_ok"]:
                    text += f" — health gate failed on {r['n_ok'] - r['health_passed']}/{r['n_ok']} seeds"
                parts.append(text)
            lines.append(f"- **{case}** ({backend}, {device}): " + "; ".join(parts) + ".")
    failed = sum(r["status"] == "failed" for r in summary["runs"])
    skipped = sum(r["status"] == "skipped" for r in summary["runs"])
    agreement = [a["max_z"] for a in summary["agreement"] if a["max_z"] is not None]
    lines.append(
        f"- Runs: {len(summary['runs'])} ({failed} failed, {skipped} skipped). "
        + (f"Posterior means agree with `{ref}` to max |z| = {max(agreement):.2f} over all cases, engines, seeds and parameters. "
           if agreement else "")
        + (f"**{len(summary['fairness_flags'])} fairness flag(s)**: see below." if summary["fairness_flags"] else "No fairness flags.")
    )
    return lines + [""]


def _protocol(summary, sink: _Sink) -> list[str]:
    protocol = summary["protocol"]
    lines = [
        "## Protocol",
        "",
        f"- Seeds: {', '.join(map(str, protocol['seeds']))} (chain seeds and initial points derive from the run seed; "
        "every engine starts from the same U(-2, 2) points on the unconstrained space, unless said below).",
        f"- Budget (chains x warmup x draws): {', '.join(protocol['budgets'])}. Threads per run: "
        f"{', '.join(map(str, protocol['threads_per_run']))}.",
        "- ESS is the minimum over parameters of the bulk ESS (arviz, rank-normalized); ESS/s divides by sampling time, "
        "ESS/grad by sampling-phase gradient evaluations. Stan's times are its own elapsed warmup/sampling times; "
        "JAX times are measured after `block_until_ready`, with compilation timed apart.",
        "",
    ]
    rows = []
    for label, info in sorted(protocol["engines"].items()):
        settings = info["settings"]
        versions = ", ".join(f"{k} {v}" for k, v in sorted((info.get("versions") or {}).items()))
        own = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k not in DEFAULT_SETTINGS) or "—"
        rows.append([label, info["engine"], info.get("frontend") or "", settings["target_accept"],
                     settings["max_tree_depth"], settings["metric"], settings["chain_method"], settings["dtype"], own,
                     versions])
    lines.append(sink.table("protocol", rows, ["label", "engine", "frontend", "target accept", "max depth", "metric",
                                               "chains", "dtype", "engine's own settings", "versions"]))
    for label, info in sorted(protocol["engines"].items()):
        if info.get("initialization"):
            lines += ["", f"`{label}` starts its chains its own way: {info['initialization']}."]
        missing = sorted(set(protocol["cases"]) - set(info.get("cases") or protocol["cases"]))
        if missing:
            lines += ["", f"`{label}` ran only on {', '.join(info['cases'])} (the suite leaves it out of "
                      f"{', '.join(missing)}; see the suite's configuration for why)."]
    if any("adaptation" in info["settings"] for info in protocol["engines"].values()):
        lines += ["", "`adaptation` is our samplers' metric estimator in warmup. Our NUTS: `stan` is Stan's windowed "
                  "variance; `fisher` and `fisher-lowrank` minimize the Fisher divergence from the warmup draws and "
                  "their gradients (`nextstat.samplers.fisher_metric`). Our MAMS: `variance` is its tuning window's "
                  "variance, `fisher` the diagonal minimizer over that window. Our LAPS: `variance` is the chains' "
                  "variance, `fisher` the diagonal minimizer across the chains at every warmup step. Rows without "
                  "it are other "
                  "engines, each with its own adaptation."]
    return lines + [""]


def _environment(summary) -> list[str]:
    lines = ["## Environment", ""]
    envs = list(summary["environments"].values())
    first = envs[0]
    lines += _environment_lines(first)
    if len(envs) > 1:
        lines += [f"**{len(envs)} environment fingerprints** contributed runs; the others differ from this one in:", ""]
        for env in envs[1:]:
            fields = [k for k in env if k not in ("fingerprint_sha256",) and env[k] != first.get(k)]
            changes = "; ".join(f"`{k}`: {_brief(first.get(k))} -> {_brief(env[k])}" for k in fields)
            lines.append(f"- fingerprint `{env['fingerprint_sha256'][:12]}`: {changes or 'nothing recorded'}.")
        lines.append("")
        if len({env["hardware_sha256"] for env in envs}) == 1:
            lines += ["All runs ran on the same hardware.", ""]
    return lines


def _brief(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _environment_lines(env) -> list[str]:
    jax_info = env.get("jax") or {}
    threads = {k: v for k, v in env["thread_variables"].items() if v is not None}
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    return [
        f"- Host `{env['hostname']}`: {env['cpu']['model']} ({env['cpu']['arch']}), "
        f"{env['cpu']['logical_cores']} logical / {env['cpu'].get('physical_cores')} physical cores, "
        f"{env['memory_bytes'] / 2**30:.1f} GiB, {env['os']}, Python {env['python']}.",
        f"- GPUs: {', '.join(g['name'] for g in env['gpus']) or 'none'}; JAX backend `{jax_info.get('backend')}`, "
        f"devices {jax_info.get('devices')}.",
        f"- Thread settings: {', '.join(f'`{k}={v}`' for k, v in threads.items()) or 'none set'}.",
        f"- Git commit `{env['git']['commit']}`" + (" (uncommitted changes)" if env["git"]["dirty"] else "")
        + f"; hardware hash `{env['hardware_sha256'][:12]}`, full fingerprint `{env['fingerprint_sha256'][:12]}`.",
        f"- Packages: {packages}.",
        "",
    ]


def _results_table(summary, backend, device, rows, sink: _Sink) -> list[str]:
    ref = summary["reference_engine"]
    lines = [f"## Results: {backend.upper()}, {device}", ""]
    table = []
    for r in sorted(rows, key=lambda r: (r["case"], r["label"])):
        m = r["metrics"]
        ratio = r["ratios"]
        verdict = f"{r['health_passed']}/{r['n_ok']}"
        if r["is_control"]:
            verdict += " (control: expected to fail)"
        table.append([
            r["case"], r["label"],
            _pm(m.get("ess_bulk_per_s")), _ratio(ratio.get("ess_bulk_per_s")),
            _pm(m.get("ess_bulk_per_grad"), 4), _ratio(ratio.get("ess_bulk_per_grad")),
            _ratio(ratio.get("ess_bulk_per_grad_with_warmup")), _ratio(ratio.get("ess_tail_per_s")),
            _ratio(ratio.get("ess_tail_per_grad")),
            _num(_med(m.get("min_ess_bulk"))), _num(_med(m.get("min_ess_tail"))), _num(_med(m.get("mean_steps_per_draw")), 1),
            _num(_med(m.get("sampling_us_per_grad")), 2),
            _num(_med(m.get("compile_s")), 2), _num(_med(m.get("compile_cold_s")), 1),
            _num(_med(m.get("warmup_s")), 2), _num(_med(m.get("sampling_s")), 2),
            _num(_med(m.get("max_rhat")), 3), _num(_med(m.get("divergence_pct")), 2), verdict,
            f"{r['n_ok']}/{len(r['seeds'])}",
        ])
    slug = re.sub(r"[^a-z0-9]+", "-", f"{backend}-{device}".lower()).strip("-")
    lines.append(sink.table(f"results_{slug}", table, [
        "case", "engine", "ESS/s (median ± std)", f"ESS/s vs {ref}", "ESS/grad (median ± std)", f"ESS/grad vs {ref}",
        f"ESS/grad with warmup grads vs {ref}", f"tail ESS/s vs {ref}", f"tail ESS/grad vs {ref}", "min ESS bulk", "min ESS tail", "grads/draw", "µs/grad", "compile s", "cold compile s", "warmup s", "sampling s", "max R-hat",
        "div %", "health pass", "runs ok"], disable_numparse=True))
    lines += ["", "Ratio columns give the ratio of medians and, in brackets, the envelope over seeds. "
              "'with warmup grads' divides the ESS by every gradient the run spent, warmup included. "
              "The tail columns use the minimum tail ESS (of the 5% and 95% quantiles) instead of the bulk ESS: "
              "bulk ESS rewards moves that jump to the other side of the mean (it can exceed the number of draws, "
              "an antithetic chain) even where the spread itself mixes slowly, which tail ESS does not; where the "
              "two ratios disagree, the tail ratio is the safer one to quote. "
              "ESS/grad measures the sampler's efficiency; µs/grad its cost per step (sampling time per gradient "
              "evaluation); ESS/s is their quotient. `compile s` is this run's compile (a cached Stan model loads in "
              "well under a second); `cold compile s` is a compile that missed every cache.", ""]
    if any(r["engine"] == "stan_nuts" and r.get("frontend") == "pystan" for r in rows):
        lines += ["**Stan rows ran through PyStan** (no CmdStan installed). Their times are Stan's own elapsed "
                  "warmup/sampling times, but under PyStan those include httpstan's per-draw output callbacks, "
                  "so µs/grad and ESS/s understate Stan's sampler itself (CmdStan's per-step cost is lower); "
                  "ESS/grad is unaffected. The frontend's wall time is kept in each artifact's `engine_info`.", ""]
    if any(r["engine"] == "nutpie_nuts" for r in rows):
        lines += ["**nutpie rows are callback-bound.** nutpie's Rust sampler calls the JAX gradient through Python "
                  "at every leapfrog step, so their µs/grad and ESS/s measure that callback more than the sampler "
                  "(its cost per gradient, measured in each run, is `engine_info.callback_us_per_grad`); rate "
                  "nutpie on ESS/grad.", ""]
    for metric, ylabel, title, name in (
        ("ess_bulk_per_s", "min bulk ESS per second (sampling)", "ESS per second", "ess_per_s"),
        ("ess_bulk_per_grad", "min bulk ESS per gradient (sampling)", "ESS per gradient evaluation", "ess_per_grad"),
    ):
        chart = grouped_bars(rows, metric, ylabel,
                             f"{title}\n{backend.upper()}, {device}: median over seeds, whiskers min to max",
                             sink.chart(f"{name}_{slug}.png"))
        if chart:
            lines += [f"![{title}]({CHARTS}/{chart.name})", ""]
    chart = ratio_bars(rows, ref, f"Ratios to {ref}\n{backend.upper()}, {device}: ratio of medians, whiskers the "
                       "envelope over seeds", sink.chart(f"ratios_{slug}.png"))
    if chart:
        lines += [f"![Ratios to {ref}]({CHARTS}/{chart.name})", ""]
    return lines


def _head_to_head(summary, backend, device, rows, sink: _Sink) -> list[str]:
    """Every pair of engines other than the reference engine, on each case both ran: our
    engines (``nextstat_*``) are the numerator where a pair has one."""
    ref = summary["reference_engine"]
    converging = any(r["metrics"].get(CONVERGE) for r in rows)
    by_case: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["label"] != ref:
            by_case.setdefault(r["case"], []).append(r)
    table = []
    for case, members in sorted(by_case.items()):
        members.sort(key=lambda r: (not r["engine"].startswith("nextstat_"), r["label"]))
        for i, mine in enumerate(members):
            for theirs in members[i + 1:]:
                cells = [ratio(mine["metrics"].get(name), theirs["metrics"].get(name), theirs["label"])
                         for name in ("ess_bulk_per_s", "ess_bulk_per_grad", "ess_bulk_per_grad_with_warmup",
                                      "ess_tail_per_s", "ess_tail_per_grad")]
                if converging:  # costs: theirs over mine, so that above 1 is mine doing better here too
                    cells += [ratio(theirs["metrics"].get(name), mine["metrics"].get(name), theirs["label"])
                              for name in (CONVERGE, SETTLE)]
                health = f"{mine['health_passed']}/{mine['n_ok']} vs {theirs['health_passed']}/{theirs['n_ok']}"
                table.append([case, f"{mine['label']} / {theirs['label']}", *map(_ratio, cells), health])
    if not table:
        return []
    slug = re.sub(r"[^a-z0-9]+", "-", f"{backend}-{device}".lower()).strip("-")
    headers = ["case", "engines", "ESS/s", "ESS/grad", "ESS/grad with warmup grads", "tail ESS/s", "tail ESS/grad"]
    headers += ["grads/chain to converge, theirs / mine", "to settle, theirs / mine"] if converging else []
    return [f"### Head to head, without `{ref}`", "",
            sink.table(f"head_to_head_{slug}", table, headers + ["health pass"], disable_numparse=True),
            "", "Ratios of medians over seeds, the envelope over seeds in brackets.", ""]


def _convergence(summary, backend, device, rows, sink: _Sink) -> list[str]:
    """Many-chain engines: gradients per chain until the ensemble's second moments match
    the reference (diagnostics.ensemble_convergence), the many-chain papers' headline."""
    from .diagnostics import CONVERGENCE_THRESHOLD, SETTLE_ITERATIONS

    ref = summary["reference_engine"]
    members = [r for r in rows if r["metrics"].get("convergence_b2_final")]
    if not members:
        return []
    runs = [run for run in summary["runs"]
            if run["backend"] == backend and run["device"] == device and run["status"] == "ok"]
    table = []
    for r in sorted(members, key=lambda r: (r["case"], r["label"])):
        mine = [run for run in runs if run["case"] == r["case"] and run["label"] == r["label"]]
        traced = [run for run in mine if run["metrics"].get("convergence_b2_final") is not None]
        converged = sum(run["metrics"].get(CONVERGE) is not None for run in traced)
        settle_traced = [run for run in traced if run["metrics"].get("convergence_settle_iterations")]
        settled = sum(run["metrics"].get(SETTLE) is not None for run in settle_traced)
        table.append([r["case"], r["label"], _pm(r["metrics"].get(CONVERGE)), f"{converged}/{len(traced)}",
                      _ratio(r["ratios"].get(CONVERGE)), _pm(r["metrics"].get(SETTLE)), f"{settled}/{len(settle_traced)}",
                      _ratio(r["ratios"].get(SETTLE)), _num(_med(r["metrics"].get("convergence_b2_final")), 4)])
    slug = re.sub(r"[^a-z0-9]+", "-", f"{backend}-{device}".lower()).strip("-")
    lines = ["### Ensemble convergence: gradients per chain until the moments match the reference", "",
             f"Per iteration, warmup included, the mean over **all** chains of each parameter's square is set "
             f"against the reference: b2 = max over parameters of (E_chains[x²] − E[x²])² / Var[x²]. A run "
             f"converges at the first iteration where b2 < {CONVERGENCE_THRESHOLD:g} (the squared bias of an estimate "
             "from about 100 independent draws); the figure is the gradients each chain had spent by then, a "
             "one-chain tuning run's included. This is the many-chain papers' headline: their ESS per gradient "
             f"is {1 / CONVERGENCE_THRESHOLD:g} over this count, so its ratio column is a ratio of that ESS per "
             f"gradient. A run **settles** at the first iteration that starts {SETTLE_ITERATIONS} in a row below "
             "the threshold: a dip that does not last (an unadjusted phase passing through the target on its way "
             "to a biased plateau) converges but does not settle. Both measure warmup and sampling together, "
             "from each engine's own start; the ESS per gradient of the tables above measures sampling only, on "
             "the report chains.", "",
             sink.table(f"convergence_{slug}", table, [
                 "case", "engine", "grads/chain to converge (median ± std)", "runs converged",
                 f"vs {ref} ({ref} / this)", "grads/chain to settle (median ± std)", "runs settled",
                 f"vs {ref} ({ref} / this)", "final b2 (median)"], disable_numparse=True),
             "", "Runs that never crossed (or settled) are left out of the median and counted beside it; artifacts "
             "made before the settle figure existed count as not traced for it (—).", ""]
    lines += _variance_of_square_note(runs, members)
    chart = convergence_curves([run for run in runs if run["label"] in {r["label"] for r in members}],
                               CONVERGENCE_THRESHOLD, sink.chart(f"convergence_{slug}.png"))
    if chart:
        lines += [f"![Ensemble convergence]({CHARTS}/{chart.name})", ""]
    return lines


def _variance_of_square_note(runs, members) -> list[str]:
    """Which Var[x²] scaled b2, case by case: the reference draws' own, or the Gaussian
    form from mean and sd (exact for Gaussian marginals, too small for skewed ones)."""
    labels = {r["label"] for r in members}
    sources: dict[str, set] = defaultdict(set)
    for run in runs:
        if run["label"] in labels and run.get("convergence_variance"):
            sources[run["case"]].add(run["convergence_variance"])
    gaussian = sorted(case for case, found in sources.items() if "gaussian from mean and sd" in found)
    if not gaussian:
        return ["Var[x²] is each reference's own, measured over its draws.", ""]
    return [f"Var[x²] is each reference's own, measured over its draws, except on {', '.join(gaussian)}: there "
            "(analytic references, or runs made before the references kept it) it is the Gaussian 2 sd⁴ + 4 mean² "
            "sd², exact for a Gaussian marginal and too small for a skewed one, which inflates b2 and its noise "
            "floor.", ""]


def _timings(summary, sink: _Sink) -> list[str]:
    timings = summary.get("timings") or []
    if not timings:
        return []
    lines = ["## Cold, cached and warm starts", "",
             "One run per case and engine (first seed), started three ways: **cold** (fresh process, empty "
             "compilation caches: JAX's persistent cache, httpstan's model cache), **cached** (fresh process, the "
             "caches the cold run filled), **warm** (the same run again in the cached process). Time to result "
             "counts from process start, imports included. A JAX engine's backend (XLA client; on a GPU the CUDA "
             "context) starts before the engine's clock, once per process, whatever the caches hold: its seconds "
             "are a column of their own, in time to result but not in the run's time.", ""]
    rows = []
    for t in sorted(timings, key=lambda t: (t["case"], t["label"])):
        if t["status"] != "ok":
            rows.append([t["case"], t["label"], f"failed: {t['reason']}", "", "", "", "", "", "", ""])
            continue
        cold, cached, warm = (t["modes"][m] for m in ("cold", "cached", "warm"))
        ratio = cached["engine_wall_s"] / warm["engine_wall_s"] if warm["engine_wall_s"] > 0 else None
        rows.append([t["case"], t["label"], _num(cold["time_to_result_s"], 1), _num(cold["compile_s"], 2),
                     _num(cached["time_to_result_s"], 1), _num(cached.get("backend_start_s"), 2),
                     _num(cached["compile_s"], 2), _num(cached["engine_wall_s"], 2), _num(warm["engine_wall_s"], 2),
                     f"{ratio:.2f}x" if ratio else "—"])
    lines.append(sink.table("timings", rows, ["case", "engine", "cold: time to result s", "cold: compile s",
                                              "cached: time to result s", "cached: backend start s",
                                              "cached: compile s", "cached: run s", "warm: run s",
                                              "cached run / warm run"], disable_numparse=True))
    chart = start_times(timings, sink.chart("start_times.png"))
    if chart:
        lines += ["", f"![Cold, cached and warm starts]({CHARTS}/{chart.name})"]
    return lines + [""]


def _health(summary, sink: _Sink) -> list[str]:
    lines = ["## Health gates, per seed", "",
             "Strict NUTS gate: max R-hat < 1.01, no divergences, E-BFMI >= 0.2, bulk and tail ESS >= 400.", ""]
    rows = []
    for run in sorted(summary["runs"], key=lambda r: (r["backend"], r["case"], r["label"], r["seed"])):
        if run["status"] != "ok":
            continue
        m = run["metrics"]
        rows.append([run["case"], run["label"], run["seed"], run["verdict"],
                     _num(m["max_rhat"], 3) + (f" (nested {m['max_nested_rhat']:.4f})" if m.get("max_nested_rhat") else ""),
                     _num(m["divergence_pct"], 2), _num(m["min_ebfmi"], 2), _num(m["min_ess_bulk"]),
                     _num(m["min_ess_tail"]), _num(m["tree_depth_saturation_pct"], 1),
                     ", ".join(run["failed_checks"]) or "—"])
    lines.append(sink.table("health", rows, ["case", "engine", "seed", "verdict", "max R-hat", "div %", "min E-BFMI",
                                             "min ESS bulk", "min ESS tail", "depth sat. %", "failed checks"],
                            disable_numparse=True))
    return lines + [""]


def _controls(summary) -> list[str]:
    """Pathological controls pass when they fail: a control that passes is a red flag
    for the sampler or for the gates, and is shouted about."""
    controls = [r for r in summary["runs"] if r["is_control"] and r["status"] == "ok"]
    if not controls:
        return []
    lines = ["## Pathological controls", "",
             "A control is a posterior the samplers are expected to fail on; it passes when its health gate fails.", ""]
    for run in sorted(controls, key=lambda r: (r["case"], r["label"], r["seed"])):
        if run["verdict"] == "unexpected-pass":
            lines.append(f"- **WARNING: `{run['case']}` / `{run['label']}` / seed {run['seed']} PASSED its health "
                         "gate.** A control must keep failing: check the sampler and the gates.")
        else:
            lines.append(f"- `{run['case']}` / `{run['label']}` / seed {run['seed']}: expected-fail "
                         f"({', '.join(run['failed_checks'])}).")
    return lines + [""]


def _correctness(summary, sink: _Sink) -> list[str]:
    ref = summary["reference_engine"]
    lines = ["## Correctness", "",
             f"Agreement of posterior means with `{ref}`, run by run on the same seed: the largest over parameters of "
             "|mean - mean_ref| / sqrt(mcse^2 + mcse_ref^2). Values below 4 are within Monte Carlo error.", ""]
    by_row: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for a in summary["agreement"]:
        by_row[(a["case"], a["label"])][a["seed"]] = a
    seeds = summary["protocol"]["seeds"]
    rows = []
    for (case, label), per_seed in sorted(by_row.items()):
        zs = [per_seed[s]["max_z"] for s in seeds if s in per_seed and per_seed[s]["max_z"] is not None]
        worst = max(per_seed.values(), key=lambda a: a["max_z"] or 0)
        rows.append([case, label, *[_num(per_seed[s]["max_z"], 2) if s in per_seed else "—" for s in seeds],
                     _num(max(zs), 2) if zs else "—", worst["worst_parameter"] or "—"])
    if rows:
        lines.append(sink.table("agreement", rows, ["case", "engine", *[f"seed {s}" for s in seeds], "max",
                                                    "worst parameter"], disable_numparse=True))
    else:
        lines.append(f"No pairs to compare (the reference engine `{ref}` has no successful runs).")
    lines.append("")
    ref_rows = []
    for run in summary["runs"]:
        corr = run.get("correctness")
        if run["status"] == "ok" and corr and corr["reference"]:
            ref_rows.append([run["case"], run["label"], run["seed"], corr["reference"], _num(corr["max_z"], 2), corr["verdict"]])
    if ref_rows:
        lines += ["Against each case's own reference posterior (|z| > 4 fails):", ""]
        lines.append(sink.table("correctness", sorted(ref_rows), ["case", "engine", "seed", "reference", "max |z|",
                                                                  "verdict"], disable_numparse=True))
        lines.append("")
    return lines


def _fairness(summary) -> list[str]:
    lines = ["## Fairness lint", ""]
    if not summary["fairness_flags"]:
        return lines + ["Every row of every table ran with the same target acceptance, metric, tree depth, chain method, "
                        "dtype, warmup, threads and budget.", ""]
    for flag in summary["fairness_flags"]:
        values = ", ".join(f"`{k}`={v}" for k, v in flag["values"].items())
        lines.append(f"- **{flag['case']}** ({flag['backend']}, {flag['device']}): `{flag['field']}` differs: {values}.")
    return lines + [""]


def _failures(summary) -> list[str]:
    bad = [r for r in summary["runs"] if r["status"] != "ok"]
    lines = ["## Failed and skipped runs", ""]
    if not bad:
        return lines + ["None.", ""]
    for r in sorted(bad, key=lambda r: (r["case"], r["label"], r["seed"])):
        lines.append(f"- `{r['case']}` / `{r['label']}` / seed {r['seed']}: **{r['status']}**: {r['reason']}")
    return lines + [""]


def _harness(summary) -> list[str]:
    h = summary["harness"]
    lines = ["## Harness overhead", ""]
    if h["harness_share_of_runs"] is not None:
        lines.append(
            f"Run processes took {h['run_process_s']:.1f} s in all, of which the engines (compile, warmup, sampling and "
            f"their frontends) took {h['engine_wall_s']:.1f} s; the harness's own work (process start, imports, "
            f"fingerprint, diagnostics, writing) took {h['harness_s']:.1f} s, **{100 * h['harness_share_of_runs']:.1f}%**."
        )
    if h.get("rule_wall_s"):
        lines.append("")
        lines.append("Wall time per workflow stage (Snakemake benchmarks): "
                     + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in h["rule_wall_s"].items()) + ".")
    return lines + [""]


def _reproduce(summary) -> list[str]:
    example = next((r for r in summary["runs"] if r["status"] == "ok"), summary["runs"][0])
    return [
        "## Reproduce",
        "",
        "Every run artifact records the command that reproduces it, e.g.:",
        "",
        "```",
        _command_for(example),
        "```",
        "",
    ]


def _command_for(run) -> str:
    from .artifacts import read_json

    try:
        return read_json(run["path"])["provenance"]["command"]
    except Exception:
        return f"nextstat run --case {run['case']} --engine {run['engine']} --seed {run['seed']} ..."


def _med(stats):
    return stats["median"] if stats else None


def _num(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _pm(stats, digits: int = 0) -> str:
    if not stats:
        return "—"
    return f"{_num(stats['median'], digits)} ± {_num(stats['std'], digits)}"


def _ratio(ratio) -> str:
    if not ratio:
        return "—"
    text = f"{ratio['ratio_of_medians']:.2f}x"
    if ratio.get("envelope"):
        low, high = ratio["envelope"]
        text += f" [{low:.2f}, {high:.2f}]"
    return text
