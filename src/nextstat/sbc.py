"""Simulation-based calibration (Talts et al. 2018): is an engine calibrated across the prior?

Each replication draws parameters from the prior, simulates data, samples the posterior
given that data with the engine, thins each chain to about its effective sample size (the
SBC papers' advice: autocorrelated draws make the rank histogram look miscalibrated), keeps
``draws_per_rank`` of the thinned draws evenly spread, and records the rank of each true
parameter among them (0 to ``draws_per_rank``; ties broken at random). If the engine samples
the posterior, the ranks are uniform. The verdict is a chi-square test of uniformity per
parameter over ``bins`` equal bins of ranks, each at level 0.01 divided by the number of
parameters (Bonferroni): "calibrated" where no parameter fails, else "miscalibrated" with
the parameters that did. A rank histogram per parameter is drawn where asked.

Each replication's case is built on its own data, so JAX engines compile its density once
per replication: SBC costs replications x (compile + run). Replication r draws from its own
stream (seed, r), so a run of many replications can be split into shards
(``first_replication``), run anywhere, and merged (``merge_shards``) into the very ranks one
run would have found.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import SBC_SCHEMA

#: per-parameter test level before the Bonferroni split
LEVEL = 0.01


def thinned_draws(draws: np.ndarray, ess: float, keep: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """``keep`` draws (n, parameter) from ``draws`` (chain, draw, parameter): each chain
    thinned to about ``ess`` draws in all, then ``keep`` spread evenly over what is left.
    The flag says whether the thinned draws were fewer than ``keep`` (ESS below it: the
    even spread then keeps correlated draws)."""
    chains, n, _ = draws.shape
    step = max(1, math.floor(chains * n / max(ess, 1.0)))
    pool = draws[:, ::step, :].reshape(-1, draws.shape[-1])
    short = len(pool) < keep
    if short:
        pool = draws.reshape(-1, draws.shape[-1])
    picks = np.linspace(0, len(pool) - 1, keep).round().astype(int)
    return pool[rng.permutation(picks)], short


def rank_of(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per parameter, how many ``draws`` (n, parameter) fall below ``truth``; ties at random."""
    below = np.sum(draws < truth, axis=0)
    ties = np.sum(draws == truth, axis=0)
    return below + np.array([rng.integers(0, t + 1) for t in ties])


def uniformity(ranks: np.ndarray, max_rank: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square statistic and p-value of uniform ranks (replication, parameter) over
    ``bins`` equal groups of the ``max_rank + 1`` possible ranks."""
    from scipy import stats

    edges = np.linspace(0, max_rank + 1, bins + 1)
    counts = np.stack([np.histogram(ranks[:, p], bins=edges)[0] for p in range(ranks.shape[1])])
    expected = len(ranks) * np.diff(edges) / (max_rank + 1)
    chi2 = np.sum((counts - expected) ** 2 / expected, axis=1)
    return chi2, stats.chi2.sf(chi2, bins - 1)


def run_sbc(
    case_spec: str,
    engine_name: str,
    replications: int,
    seed: int,
    budget,
    settings: dict[str, Any],
    draws_per_rank: int = 99,
    bins: int = 20,
    log=lambda line: print(line, file=sys.stderr),
    first_replication: int = 0,
) -> dict[str, Any]:
    """The SBC artifact of ``replications`` replications of ``case_spec`` on ``engine_name``,
    numbered from ``first_replication`` (a shard of a larger run)."""
    from . import __version__
    from .artifacts import utc_now
    from .cases.simulation import get_simulator
    from .diagnostics import run_metrics
    from .engines import EngineUnavailable, load_engine
    from .environment import fingerprint

    if (draws_per_rank + 1) % bins:
        raise ValueError(f"bins ({bins}) must divide the {draws_per_rank + 1} possible ranks (draws_per_rank + 1)")
    simulator = get_simulator(case_spec)
    engine = load_engine(engine_name)
    names: tuple[str, ...] | None = None
    ranks, failures, short = [], [], 0
    began = time.perf_counter()
    for r in range(first_replication, first_replication + replications):
        rng = np.random.default_rng([seed, r, 0x5BC])
        truth = np.asarray(simulator.draw(rng), dtype=float)
        case = simulator.case_for(simulator.simulate(truth, rng))
        names = names or case.param_names
        try:
            result = engine.run(case, settings, budget, seed + r).check(budget, engine.stat_names)
        except (EngineUnavailable, RuntimeError, FloatingPointError) as exc:
            failures.append({"replication": r, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        metrics = run_metrics(result, settings["max_tree_depth"])["metrics"]
        kept, was_short = thinned_draws(result.draws, metrics["min_ess_bulk"] or 1.0, draws_per_rank, rng)
        short += was_short
        ranks.append(rank_of(truth, kept, rng))
        done = r + 1 - first_replication
        if done % max(1, replications // 10) == 0:
            log(f"sbc: {done}/{replications} replications ({time.perf_counter() - began:.0f} s)")
    if names is None or not ranks:
        raise RuntimeError(f"no replication of {case_spec} on {engine_name} finished: {failures[:1]}")
    table = np.array(ranks)
    return {
        "schema_version": SBC_SCHEMA,
        "created_utc": utc_now(),
        "case": case_spec,
        "engine": engine_name,
        "seed": seed,
        "first_replication": first_replication,
        "replications": replications,
        "replications_done": len(ranks),
        "failures": failures,
        "budget": {"chains": budget.chains, "warmup": budget.warmup, "draws": budget.draws},
        "settings": settings,
        "draws_per_rank": draws_per_rank,
        "replications_below_ess": short,
        "parameters": list(names),
        "ranks": {n: table[:, i].astype(int).tolist() for i, n in enumerate(names)},
        **_verdict(list(names), table, draws_per_rank, bins),
        "seconds": time.perf_counter() - began,
        "environment": fingerprint(),
        "nextstat_version": __version__,
    }


def _verdict(names: list[str], table: np.ndarray, draws_per_rank: int, bins: int) -> dict[str, Any]:
    """The chi-square test of ranks (replication, parameter) and the Bonferroni verdict."""
    chi2, p_values = uniformity(table, draws_per_rank, bins)
    per_parameter_level = LEVEL / len(names)
    failed = [n for n, p in zip(names, p_values, strict=True) if p < per_parameter_level]
    return {
        "test": {
            "statistic": f"chi-square of ranks in {bins} equal bins",
            "bins": bins,
            "level_per_parameter": per_parameter_level,
            "chi2": dict(zip(names, chi2.astype(float).tolist(), strict=True)),
            "p_value": dict(zip(names, p_values.astype(float).tolist(), strict=True)),
        },
        "verdict": "miscalibrated" if failed else "calibrated",
        "miscalibrated_parameters": failed,
    }


#: what every shard of one SBC run must share
SHARED_KEYS = ("case", "engine", "seed", "budget", "settings", "draws_per_rank", "parameters")


def merge_shards(found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """SBC artifacts (path, artifact) with the shards of one run (same case, engine row and
    seed, ``first_replication`` apart) merged into one artifact: ranks in replication order,
    the test and verdict over all of them; the path names every shard. Shards that disagree on
    what they ran, or cover a replication twice, are refused with both paths."""
    from .artifacts import ArtifactError

    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for path, doc in found:
        key = (doc["case"], doc["engine"], doc.get("label", doc["engine"]), doc["seed"])
        groups.setdefault(key, []).append((str(path), doc))
    merged = []
    for shards in groups.values():
        if len(shards) == 1:
            merged.append(shards[0])
            continue
        shards.sort(key=lambda item: item[1].get("first_replication", 0))
        (first_path, first), covered = shards[0], 0
        for path, doc in shards:
            differing = [key for key in SHARED_KEYS if doc[key] != first[key]]
            if differing:
                raise ArtifactError(f"SBC shards {first_path} and {path} differ in {', '.join(differing)}")
            start = doc.get("first_replication", 0)
            if start < covered:
                raise ArtifactError(f"SBC shard {path} starts at replication {start}, covered by an earlier shard")
            covered = start + doc["replications"]
        docs = [doc for _, doc in shards]
        names = first["parameters"]
        table = np.array([[r for doc in docs for r in doc["ranks"][n]] for n in names]).T
        merged.append(
            (
                " + ".join(path for path, _ in shards),
                {
                    **first,
                    "replications": sum(doc["replications"] for doc in docs),
                    "replications_done": sum(doc["replications_done"] for doc in docs),
                    "failures": [failure for doc in docs for failure in doc["failures"]],
                    "replications_below_ess": sum(doc["replications_below_ess"] for doc in docs),
                    "ranks": {n: [r for doc in docs for r in doc["ranks"][n]] for n in names},
                    **_verdict(names, table, first["draws_per_rank"], first["test"]["bins"]),
                    "seconds": sum(doc["seconds"] for doc in docs),
                    "shards": len(docs),
                },
            )
        )
    return merged


def cmd_sbc(args, overrides: dict[str, Any]) -> int:
    """``nextstat sbc``: exit 0 where the engine is calibrated on the case, 1 where not."""
    import shlex

    from .artifacts import write_json
    from .cases import CaseError
    from .cli import EXIT_INVALID, EXIT_OK, UsageError
    from .engines import Budget, EngineError, SettingsError, resolve_settings
    from .sbc_ecdf import band_exits, ecdf_difference_chart

    try:
        budget = Budget.parse(args.budget)
        settings = resolve_settings(overrides, args.engine)
        artifact = run_sbc(
            args.case,
            args.engine,
            args.replications,
            args.seed,
            budget,
            settings,
            args.draws_per_rank,
            args.bins,
            first_replication=args.first_replication,
        )
    except (CaseError, EngineError, SettingsError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    artifact["command"] = shlex.join(["nextstat", *args.argv])
    artifact["label"] = args.label or args.engine
    write_json(args.out, artifact, SBC_SCHEMA)
    chart = rank_histograms(artifact, Path(args.chart) if args.chart else Path(args.out).with_suffix(".png"))
    ecdf = ecdf_difference_chart(artifact, chart.with_name(chart.stem + "_ecdf.png"))
    worst = min(artifact["test"]["p_value"].items(), key=lambda item: item[1])
    exits = band_exits(artifact)
    print(
        f"sbc {args.engine} on {args.case}: {artifact['verdict']} over {artifact['replications_done']} replications "
        f"(smallest p {worst[1]:.3g} for {worst[0]}, level {artifact['test']['level_per_parameter']:.2g} per "
        f"parameter; outside the 95% ECDF band: {', '.join(exits) or 'none'}) -> {args.out}, {chart}, {ecdf}"
    )
    return EXIT_OK if artifact["verdict"] == "calibrated" else EXIT_INVALID


#: what a suite summary keeps of an SBC artifact (``calibration``): enough to redraw its
#: histograms and state its verdict, not its environment
CALIBRATION_KEYS = (
    "case", "engine", "label", "seed", "first_replication", "shards", "replications", "replications_done", "failures",
    "budget", "draws_per_rank", "replications_below_ess", "parameters", "ranks", "test", "verdict",
    "miscalibrated_parameters", "seconds",
)  # fmt: skip


def calibration_record(doc: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """An SBC artifact as the suite summary keeps it (``summary["calibration"]``)."""
    from .artifacts import ArtifactError, validation_errors

    if not isinstance(doc, dict) or doc.get("schema_version") != SBC_SCHEMA:
        raise ArtifactError(f"{path}: not an SBC artifact ({SBC_SCHEMA})")
    errors = validation_errors(doc, SBC_SCHEMA)
    if errors:
        raise ArtifactError(f"{path}: invalid SBC artifact: {errors[0]}")
    record = {key: doc[key] for key in CALIBRATION_KEYS if key in doc}
    record.setdefault("label", doc["engine"])
    return {**record, "path": str(path)}


def rank_histograms(artifact: dict[str, Any], path: Path) -> Path:
    """One small histogram of ranks per parameter, with the 99% band of a uniform count."""
    from scipy import stats

    from .charts import parameter_panels

    bins = artifact["test"]["bins"]
    n = artifact["replications_done"]
    low, high = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
    edges = np.linspace(0, artifact["draws_per_rank"] + 1, bins + 1)

    def draw(ax, name):
        ax.axhspan(low, high, color="0.85")
        ax.hist(artifact["ranks"][name], bins=edges, color="tab:blue")
        failed = name in artifact["miscalibrated_parameters"]
        ax.set_title(name + (" (fails)" if failed else ""), fontsize=8, color="tab:red" if failed else "black")

    title = (
        f"SBC ranks: {artifact['engine']} on {artifact['case']}, {n} replications ({artifact['verdict']}; "
        "grey: 99% band of a uniform bin)"
    )
    return parameter_panels(artifact["parameters"], draw, title, path)
