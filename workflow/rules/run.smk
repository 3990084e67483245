# Stage 1: run every case x engine x seed. A failing engine still writes a
# schema-valid artifact (status failed, with the reason) and exits 0, so the
# workflow carries on with the other runs.


rule stan_compile:
    """Build each case's Stan model once, before its runs, so concurrent runs never
    race to compile it and the cold compile time is measured once."""
    output:
        f"{RESULTS}/stan_models/{{case}}.json",
    params:
        spec=lambda wc: shlex.quote(CASES[wc.case]),
    log:
        f"{RESULTS}/logs/stan_compile/{{case}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/stan_compile/{{case}}.tsv"
    threads: 1
    resources:
        mem_mb=resource("stan_compile", "mem_mb", 4000),
        runtime=resource("stan_compile", "runtime", 20),
    shell:
        "{NEXTSTAT} compile --case {params.spec} --out {output} > {log} 2>&1"


def _run_inputs(wc):
    if ENGINE_ROWS[wc.label]["engine"] == REFERENCE_ENGINE:
        return {"stan_build": f"{RESULTS}/stan_models/{wc.case}.json"}
    return {}


rule run:
    input:
        unpack(_run_inputs),
    output:
        f"{RESULTS}/runs/{{case}}/{{label}}/seed{{seed}}.json",
    params:
        spec=lambda wc: shlex.quote(CASES[wc.case]),
        engine=lambda wc: shlex.quote(ENGINE_ROWS[wc.label]["engine"]),
        nextstat=lambda wc: nextstat_for(wc.label),
        settings=lambda wc: set_args(wc.case, wc.label),
        compile_record=lambda wc, input: f"--compile-record {input.stan_build}" if "stan_build" in input.keys() else "",
        budget=lambda wc: budget_for(wc.label),
        suite=SUITE,
    log:
        f"{RESULTS}/logs/run/{{case}}/{{label}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/run/{{case}}/{{label}}/seed{{seed}}.tsv"
    threads: config["threads_per_run"]
    resources:
        mem_mb=resource("run", "mem_mb", 4000),
        runtime=resource("run", "runtime", 30),
    shell:
        "{params.nextstat} run --suite {params.suite} --case {params.spec} --engine {params.engine}"
        " --label {wildcards.label} --seed {wildcards.seed} --budget {params.budget}"
        " --threads {threads} {params.settings} {params.compile_record} --out {output} > {log} 2>&1"
