# Cold, cached and warm starts, one per case x engine row, on the suite's first seed.
# On when the suite sets `timing: true` (each costs two fresh processes and, for Stan,
# a model compile from an empty cache).

TIMING_ARTIFACTS = (
    [f"{RESULTS}/timing/{case}/{label}.json" for case, label in CASE_ROWS] if config.get("timing") else []
)


rule timing:
    output:
        f"{RESULTS}/timing/{{case}}/{{label}}.json",
    params:
        spec=lambda wc: shlex.quote(CASES[wc.case]),
        engine=lambda wc: shlex.quote(ENGINE_ROWS[wc.label]["engine"]),
        nextstat=lambda wc: nextstat_for(wc.label),
        settings=lambda wc: set_args(wc.case, wc.label),
        seed=SEEDS[0],
        budget=lambda wc: budget_for(wc.label),
        suite=SUITE,
    log:
        f"{RESULTS}/logs/timing/{{case}}/{{label}}.log",
    threads: config["threads_per_run"]
    resources:
        mem_mb=resource("run", "mem_mb", 4000),
        runtime=resource("run", "runtime", 30),
    shell:
        "{params.nextstat} timing --suite {params.suite} --case {params.spec} --engine {params.engine}"
        " --label {wildcards.label} --seed {params.seed} --budget {params.budget} --threads {threads}"
        " {params.settings} --out {output} > {log} 2>&1"
