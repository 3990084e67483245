# Stage 3: medians over seeds per case x engine row, ratios to the reference engine.


rule aggregate:
    input:
        runs=RUN_ARTIFACTS,
        validation=f"{RESULTS}/validation.json",
        timings=TIMING_ARTIFACTS,
        sbc=SBC_ARTIFACTS,
    output:
        f"{RESULTS}/summary.json",
    params:
        reference=config["reference_engine"],
        benchmarks=f"{RESULTS}/benchmarks",
        # the suite's report: block (which figures lead, which differences are on purpose)
        presentation=(
            f"--presentation {shlex.quote(json.dumps(config['report']))}" if config.get("report") else ""
        ),
    log:
        f"{RESULTS}/logs/aggregate.log",
    shell:
        "{NEXTSTAT} aggregate --suite {SUITE} --runs {input.runs} --reference-engine {params.reference}"
        " --benchmarks {params.benchmarks} --timings {input.timings} --sbc {input.sbc} {params.presentation}"
        " --out {output} > {log} 2>&1"
