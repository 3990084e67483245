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

Each replication's case is built on its own data; JAX engines trace their programs for it
but compile them once for all replications (``jax_common.programs_shared_across_data``:
the data the programs close over become arguments of the compiled program), so SBC costs
one compile and replications x (trace + run). A case without data (the
funnels: their posterior is their prior) needs no run per replication: one run of as many
chains as replications, chain c ranking replication c's truth among its own draws thinned
to its own ESS (``replicate_by="chains"``, the default there), one compile for all; each
chain is then an independent replication of the sampler from its own start, which is what
the ranks test. Replication r draws from its own
stream (seed, r), so a run of many replications can be split into shards
(``first_replication``), run anywhere, and merged (``merge_shards``) into the very ranks one
run would have found.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

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
    replicate_by: str = "auto",
) -> dict[str, Any]:
    """The SBC artifact of ``replications`` replications of ``case_spec`` on ``engine_name``,
    numbered from ``first_replication`` (a shard of a larger run). ``replicate_by``: "runs"
    (a run of ``budget.chains`` chains per replication), "chains" (one run, a chain per
    replication: only for a case without data) or "auto" (chains where the case has no data)."""
    from . import __version__
    from .artifacts import utc_now
    from .cases.simulation import get_simulator
    from .engines import load_engine
    from .environment import fingerprint

    if (draws_per_rank + 1) % bins:
        raise ValueError(f"bins ({bins}) must divide the {draws_per_rank + 1} possible ranks (draws_per_rank + 1)")
    simulator = get_simulator(case_spec)
    if replicate_by not in REPLICATE_BY:
        raise ValueError(f"replicate_by {replicate_by!r}: expected one of {', '.join(REPLICATE_BY)}")
    if replicate_by == "auto":
        replicate_by = "chains" if simulator.data_free else "runs"
    if replicate_by == "chains" and not simulator.data_free:
        raise ValueError(
            f"case '{case_spec}' simulates data: its replications need a run each (replicate by runs); "
            "a chain per replication serves only a case without data"
        )
    engine = load_engine(engine_name)
    began = time.perf_counter()
    replicate = _replicate_by_chains if replicate_by == "chains" else _replicate_by_runs
    replicated = replicate(
        simulator, engine, range(first_replication, first_replication + replications), seed, budget, settings,
        draws_per_rank, log,
    )  # fmt: skip
    names, budget, settings = replicated.names, replicated.budget, replicated.settings
    if names is None or not replicated.ranks:
        raise RuntimeError(f"no replication of {case_spec} on {engine_name} finished: {replicated.failures[:1]}")
    table = np.array(replicated.ranks)
    return {
        "schema_version": SBC_SCHEMA,
        "created_utc": utc_now(),
        "case": case_spec,
        "engine": engine_name,
        "seed": seed,
        "first_replication": first_replication,
        "replications": replications,
        "replicated_by": replicate_by,
        "replications_done": len(replicated.ranks),
        "failures": replicated.failures,
        "budget": {"chains": budget.chains, "warmup": budget.warmup, "draws": budget.draws},
        "settings": settings,
        "engine_versions": engine.versions(),
        "draws_per_rank": draws_per_rank,
        "replications_below_ess": replicated.short,
        "parameters": list(names),
        "ranks": {n: table[:, i].astype(int).tolist() for i, n in enumerate(names)},
        **_verdict(list(names), table, draws_per_rank, bins),
        "seconds": time.perf_counter() - began,
        "environment": fingerprint(),
        "nextstat_version": __version__,
    }


#: how replications are made: a run each, or (a case without data) a chain each of one run
REPLICATE_BY = ("auto", "runs", "chains")
#: engines whose chains run in lockstep take chains in multiples of this
LOCKSTEP_MULTIPLE = 16


class Replicated(NamedTuple):
    """What a way of replicating returns: the ranks (replication, parameter) and how they were made."""

    names: tuple[str, ...] | None
    ranks: list[np.ndarray]
    failures: list[dict[str, Any]]
    short: int  # replications whose thinned draws were fewer than asked
    budget: Any  # the budget each run had
    settings: dict[str, Any]  # the settings each run had


def _replication_rng(seed: int, r: int) -> np.random.Generator:
    return np.random.default_rng([seed, r, 0x5BC])


def _replicate_by_runs(simulator, engine, numbers, seed, budget, settings, draws_per_rank, log):
    """A run of ``budget.chains`` chains per replication, on the replication's own data."""
    from .diagnostics import run_metrics
    from .engines import EngineUnavailable
    from .engines.jax_common import programs_shared_across_data

    names: tuple[str, ...] | None = None
    ranks, failures, short = [], [], 0
    began = time.perf_counter()
    with programs_shared_across_data():
        for done, r in enumerate(numbers, start=1):
            rng = _replication_rng(seed, r)
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
            if done % max(1, len(numbers) // 10) == 0:
                log(f"sbc: {done}/{len(numbers)} replications ({time.perf_counter() - began:.0f} s)")
    return Replicated(names, ranks, failures, short, budget, settings)


def _replicate_by_chains(simulator, engine, numbers, seed, budget, settings, draws_per_rank, log):
    """One run of a chain per replication (rounded up to whole lockstep groups for a
    many-chain engine, every chain reported); chain c ranks replication c's truth among its
    own draws, thinned to its own bulk ESS. The run's budget is what the artifact records."""
    from .diagnostics import parameter_summary
    from .engines import Budget, EngineUnavailable

    truths, rngs = [], []
    for r in numbers:
        rngs.append(_replication_rng(seed, r))
        truths.append(np.asarray(simulator.draw(rngs[-1]), dtype=float))
    case = simulator.case_for({})
    chains = len(numbers)
    if "report_chains" in settings:  # a many-chain engine: whole lockstep groups, every chain kept
        chains = -(-chains // LOCKSTEP_MULTIPLE) * LOCKSTEP_MULTIPLE
        settings = {**settings, "report_chains": chains}
    run_budget = Budget(chains, budget.warmup, budget.draws)
    log(f"sbc: one run of {chains} chains, a chain per replication")
    try:
        result = engine.run(case, settings, run_budget, seed + numbers[0]).check(run_budget, engine.stat_names)
    except (EngineUnavailable, RuntimeError, FloatingPointError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        failures = [{"replication": r, "reason": reason} for r in numbers]
        return Replicated(case.param_names, [], failures, 0, run_budget, settings)
    ranks, short = [], 0
    for c, (truth, rng) in enumerate(zip(truths, rngs, strict=True)):
        chain = result.draws[c : c + 1]
        halves = chain[:, : chain.shape[1] // 2 * 2].reshape(2, -1, chain.shape[-1])  # split-chain ESS, as arviz's
        ess = min((p["ess_bulk"] or 1.0) for p in parameter_summary(halves, case.param_names).values())
        kept, was_short = thinned_draws(chain, ess, draws_per_rank, rng)
        short += was_short
        ranks.append(rank_of(truth, kept, rng))
    return Replicated(case.param_names, ranks, [], short, run_budget, settings)


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


#: what every shard of one SBC run must share (a shard made of chains records its own
#: run's chain count, so there the budget's warmup and draws only)
SHARED_KEYS = ("case", "engine", "seed", "replicated_by", "budget", "settings", "draws_per_rank", "parameters")


def _shared(doc: dict[str, Any], key: str):
    if key == "replicated_by":
        return doc.get(key, "runs")
    if doc.get("replicated_by") == "chains":
        if key == "budget":
            return {k: v for k, v in doc["budget"].items() if k != "chains"}
        if key == "settings":
            return {k: v for k, v in doc["settings"].items() if k != "report_chains"}
    return doc[key]


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
            differing = [key for key in SHARED_KEYS if _shared(doc, key) != _shared(first, key)]
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
            replicate_by=args.replicate_by,
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
    "case", "engine", "label", "seed", "first_replication", "shards", "replications", "replicated_by",
    "replications_done", "failures",
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
