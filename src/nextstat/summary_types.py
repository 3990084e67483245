"""The suite summary's shapes (``schemas/suite_summary.v1.schema.json``), and the figures
every reader of a summary takes from them: a statistic's median, and the ratio of two
rows' medians with its envelope over seeds.

``aggregate`` writes these; ``report``, ``charts`` and ``gate`` read them. Fields marked
``NotRequired`` are absent from summaries written before they existed (the pinned gate
baseline among them); a reader treats their absence as "nothing recorded".
"""

from typing import Any, NotRequired, TypedDict


class Spread(TypedDict):
    """A headline figure and its range over seeds."""

    median: float
    min: float
    max: float


class Stats(TypedDict):
    """One metric of a row over its seeds: the median is the headline (a ``Spread``
    with mean, standard deviation and count beside it)."""

    n: int
    median: float
    mean: float
    std: float
    min: float
    max: float


class Ratio(TypedDict):
    """A row's metric against another row's: ratio of medians, and the envelope over
    seeds (smallest over largest, largest over smallest; None where the other's smallest
    is not positive)."""

    reference: str
    ratio_of_medians: float
    envelope: list[float] | None


class BudgetRecord(TypedDict):
    chains: int
    warmup: int
    draws: int


class Correctness(TypedDict):
    reference: str | None
    verdict: str
    max_z: float | None
    threshold: NotRequired[float]  # the run's |z| limit (absent in older summaries: 4 then)


class RunRecord(TypedDict):
    """One run artifact, as much of it as the summary's readers need."""

    path: str
    case: str
    label: str
    engine: str
    seed: int
    status: str  # ok, failed, skipped
    reason: str | None
    backend: str
    device: str
    hostname: str
    hardware_sha256: str
    fingerprint_sha256: str
    fairness: dict[str, Any]
    budget: BudgetRecord
    settings: dict[str, Any]
    frontend: str | None
    density: NotRequired[str]  # jax, or bridgestan (a host callback); absent in older summaries
    is_control: bool
    verdict: str | None
    failed_checks: list[str]
    correctness: Correctness | None
    metrics: dict[str, float | None]
    #: [gradients per chain, b2_max (None where not finite)] points, JSON arrays of two
    convergence_curve: list[tuple[float, float | None]] | None
    convergence_variance: str | None
    #: the command that reproduces the run (its artifact's ``provenance.command``)
    command: NotRequired[str]
    #: its artifact's draws digest and source digest, so a summary alone can be reproduced
    #: exactly (``nextstat reproduce``); absent in older summaries and in runs without draws
    draws_sha256: NotRequired[str]
    source_sha256: NotRequired[str]


class Row(TypedDict):
    """One backend x device x case x engine label, over its seeds."""

    backend: str
    device: str
    case: str
    label: str
    engine: str
    frontend: str | None
    #: what the report must say about the row's frontend (``EngineSpec.frontend_caveats``)
    frontend_caveat: NotRequired[str | None]
    #: its frontend is callback-bound (``EngineSpec.callback_bound_frontends``)
    callback_bound: NotRequired[bool]
    #: the engine's settings its artifacts predate, with the value it ran with then
    settings_unrecorded: NotRequired[dict[str, Any]]
    #: the callback-bound rows (this one, the reference or both) for which its ESS/s
    #: ratios to the reference are not quoted
    time_ratios_withheld: NotRequired[list[str]]
    is_control: bool
    seeds: list[int]
    n_ok: int
    n_failed: int
    n_skipped: int
    health_passed: int
    correctness_failed: int
    fairness: dict[str, Any]
    budget: BudgetRecord
    settings: dict[str, Any]
    metrics: dict[str, Stats | None]
    ratios: dict[str, Ratio]


class EngineInfo(TypedDict):
    """One engine label of the suite: its engine and usual settings, and the engine's own
    facts (from its ``EngineSpec``)."""

    engine: str
    settings: dict[str, Any]
    frontend: str | None
    versions: dict[str, str] | None
    initialization: str | None
    cases: list[str]
    #: one of our own samplers (``EngineSpec.ours``)
    ours: NotRequired[bool]
    #: a NUTS engine (``EngineSpec.nuts``)
    nuts: NotRequired[bool]
    #: the engine's own settings and what each means (``EngineSpec.settings``)
    setting_docs: NotRequired[dict[str, str]]


class Protocol(TypedDict):
    seeds: list[int]
    cases: list[str]
    budgets: list[str]
    threads_per_run: list[int]
    runs_pinned: NotRequired[list[int]]  # [runs pinned to CPUs of their own, runs]; absent in older summaries
    engines: dict[str, EngineInfo]


class Agreement(TypedDict):
    backend: str
    case: str
    label: str
    reference: str
    seed: int
    max_z: float | None
    worst_parameter: str | None
    threshold: NotRequired[float]  # correctness_z_limit of the parameters compared (older summaries: 4)


class FairnessFlag(TypedDict):
    backend: str
    device: str
    case: str
    field: str
    values: dict[str, Any]


class TimingRecord(TypedDict):
    case: str
    label: str
    engine: str
    seed: int
    budget: BudgetRecord
    status: str
    reason: str | None
    backend: str
    modes: dict[str, dict[str, Any]] | None


class Harness(TypedDict):
    runs_timed: int
    run_process_s: float
    engine_wall_s: float
    harness_s: float
    harness_share_of_runs: float | None
    rule_wall_s: dict[str, float] | None


#: correctness verdicts that fail a run: its means missed the reference, or the reference is not its case's
CORRECTNESS_FAILURES = ("fail", "reference-mismatch", "reference-invalid")

#: the figures a report may lead with (a suite's ``report: lead``), each a ratio to the
#: reference engine that ``aggregate`` computes, with its column name; above 1 is better
HEADLINE_FIGURES: dict[str, str] = {
    "ess_bulk_per_s": "ESS/s",
    "ess_tail_per_s": "tail ESS/s",
    "ess_bulk_per_grad": "ESS/grad",
    "ess_bulk_per_grad_with_warmup": "ESS/grad, warmup grads counted",
    "ess_tail_per_grad": "tail ESS/grad",
    "ess_bulk_per_s_end_to_end": "ESS/s, warmup time counted",
    "grads_per_chain_to_settle": "grads/chain to settle (theirs / this)",
    "grads_per_chain_to_converge": "grads/chain to converge (theirs / this)",
    "b2_max_grads_per_chain": "grads/chain to b2max < 0.01 (theirs / this)",
    "b2_max_grads_per_chain_with_warmup": "grads/chain to b2max < 0.01, warmup counted (theirs / this)",
    "b2_avg_grads_per_chain": "grads/chain to b2avg < 0.01 (theirs / this)",
    "b2_avg_grads_per_chain_with_warmup": "grads/chain to b2avg < 0.01, warmup counted (theirs / this)",
}
#: what a report leads with where its suite does not say
DEFAULT_LEAD = [
    "ess_bulk_per_s",
    "ess_tail_per_s",
    "ess_bulk_per_grad",
    "ess_bulk_per_grad_with_warmup",
    "ess_tail_per_grad",
]


class DeclaredDifference(TypedDict):
    """A setting some rows run differently on purpose (a sampler's own target acceptance):
    the report states it once in its protocol instead of flagging it case by case."""

    field: str
    labels: list[str]
    why: str


class PublishedFigure(TypedDict):
    """One figure a paper printed, and the rows of this suite that stand for its sampler."""

    case: str
    sampler: str
    labels: list[str]
    figure: str  # a HEADLINE_FIGURES name
    value: float
    above: NotRequired[bool]  # the paper printed "> value"


class Published(TypedDict):
    """Figures from a publication that the report prints beside this suite's."""

    source: str
    note: NotRequired[str]
    figures: list[PublishedFigure]


class Presentation(TypedDict):
    """How a suite wants its report to read (its configuration's ``report:`` block)."""

    lead: NotRequired[list[str]]
    declared: NotRequired[list[DeclaredDifference]]
    published: NotRequired[Published]


class Summary(TypedDict):
    schema_version: str
    suite: str
    created_utc: str
    reference_engine: str
    protocol: Protocol
    environments: dict[str, dict[str, Any]]
    runs: list[RunRecord]
    rows: list[Row]
    agreement: list[Agreement]
    fairness_flags: list[FairnessFlag]
    harness: Harness
    timings: NotRequired[list[TimingRecord]]
    presentation: NotRequired[Presentation]
    #: the suite's simulation-based calibration, one entry per case and engine row (sbc.py)
    calibration: NotRequired[list[dict[str, Any]]]


def timing_modes(record: TimingRecord) -> dict[str, dict[str, Any]]:
    """A timing record's cold, cached and warm figures, which the timing schema requires
    of every record whose status is ok."""
    modes = record["modes"]
    assert modes is not None, f"a {record['status']} timing record has no modes"
    return modes


def median(stats: Spread | None) -> float | None:
    """The headline of a statistic over seeds; None where no seed measured it."""
    return stats["median"] if stats else None


def envelope(mine: Spread, theirs: Spread) -> list[float] | None:
    """The ratio's range over seeds: [my smallest / their largest, my largest / their
    smallest]; None where their smallest is not positive."""
    if theirs["min"] <= 0:
        return None
    return [mine["min"] / theirs["max"], mine["max"] / theirs["min"]]


def ratio_of_medians(mine: Spread | None, theirs: Spread | None, reference: str) -> Ratio | None:
    """My median over theirs, with its envelope over seeds; None where either is missing
    or their median is not positive."""
    if not mine or not theirs or theirs["median"] <= 0:
        return None
    return {
        "reference": reference,
        "ratio_of_medians": mine["median"] / theirs["median"],
        "envelope": envelope(mine, theirs),
    }


def ratio_spread(ratio: Ratio) -> Spread | None:
    """A ratio read as a figure with its range over seeds: the ratio of medians within
    its envelope; None without an envelope."""
    bounds = ratio.get("envelope")
    if not bounds:
        return None
    low, high = bounds
    return {"median": ratio["ratio_of_medians"], "min": low, "max": high}
