# Simulation-based calibration (the suite's `sbc:` block): each listed engine row on each
# listed case that simulates, one `nextstat sbc` job per pair on the suite's first seed.
# A miscalibrated engine is a finding, not a failed job: `nextstat sbc` exits 1 then, with
# its artifact written; any other failure stops the job.
from nextstat.cases.simulation import SIMULATORS

SBC = config.get("sbc") or {}


def _sbc_cases():
    """sbc case id -> its simulator spec."""
    specs = {}
    for entry in SBC.get("cases", []):
        case_id, spec = (entry, entry) if isinstance(entry, str) else (entry["id"], entry["spec"])
        if ".py:" not in spec and spec not in SIMULATORS:
            raise ValueError(f"config sbc: case '{spec}' cannot simulate (built in: {', '.join(SIMULATORS)})")
        specs[case_id] = spec
    return specs


SBC_CASES = _sbc_cases()
for _label in SBC.get("engines", []):
    if _label not in ENGINE_ROWS:
        raise ValueError(f"config sbc: engine '{_label}' is not a label of this suite's engine rows")
SBC_REPLICATIONS = SBC.get("replications", 100)
SBC_SHARDS = SBC.get("shards", 1)
if SBC_SHARDS > SBC_REPLICATIONS:
    raise ValueError(f"config sbc: {SBC_SHARDS} shards for {SBC_REPLICATIONS} replications (at most one shard each)")
SBC_ARTIFACTS = [
    f"{RESULTS}/sbc/{case}/{label}.json" if SBC_SHARDS == 1 else f"{RESULTS}/sbc/{case}/{label}/shard{shard}.json"
    for case in SBC_CASES
    for label in SBC.get("engines", [])
    for shard in range(SBC_SHARDS)
]
SBC_BUDGET = Budget(**SBC["budget"]).spec if SBC.get("budget") else BUDGET


def sbc_budget_for(label):
    """A row's own `sbc_budget` (a many-chain engine runs whole lockstep groups), else the
    block's, else the suite's."""
    own = ENGINE_ROWS[label].get("sbc_budget")
    return Budget(**own).spec if own else SBC_BUDGET


def sbc_part(wc):
    """(first replication, replications) of a job: all of them, or shard ``wc.shard`` of the
    suite's replications split evenly (`nextstat aggregate` merges the shards' ranks into one
    verdict per case and row)."""
    if not hasattr(wc, "shard"):
        return 0, SBC_REPLICATIONS
    edges = [SBC_REPLICATIONS * i // SBC_SHARDS for i in range(SBC_SHARDS + 1)]
    shard = int(wc.shard)
    return edges[shard], edges[shard + 1] - edges[shard]


rule sbc:
    output:
        f"{RESULTS}/sbc/{{case}}/{{label}}.json",
    params:
        spec=lambda wc: shlex.quote(SBC_CASES[wc.case]),
        engine=lambda wc: shlex.quote(ENGINE_ROWS[wc.label]["engine"]),
        nextstat=lambda wc: nextstat_for(wc.label),
        settings=lambda wc: set_args(wc.case, wc.label),
        seed=SEEDS[0],
        replications=lambda wc: sbc_part(wc)[1],
        first=lambda wc: sbc_part(wc)[0],
        budget=lambda wc: sbc_budget_for(wc.label),
        draws=SBC.get("draws_per_rank", 99),
        bins=SBC.get("bins", 20),
    log:
        f"{RESULTS}/logs/sbc/{{case}}/{{label}}.log",
    threads: config["threads_per_run"]
    resources:
        mem_mb=resource("run", "mem_mb", 4000),
        runtime=resource("run", "runtime", 60),
    shell:
        "{params.nextstat} sbc --case {params.spec} --engine {params.engine} --label {wildcards.label}"
        " --replications {params.replications} --first-replication {params.first} --seed {params.seed}"
        " --budget {params.budget} --draws-per-rank {params.draws} --bins {params.bins} {params.settings}"
        " --out {output} > {log} 2>&1 || test $? -eq 1"


# `shards: K` in the sbc: block: K jobs per case and row, each a contiguous part of the replications
use rule sbc as sbc_shard with:
    output:
        f"{RESULTS}/sbc/{{case}}/{{label}}/shard{{shard}}.json",
    log:
        f"{RESULTS}/logs/sbc/{{case}}/{{label}}/shard{{shard}}.log",
    wildcard_constraints:
        shard=r"\d+",
