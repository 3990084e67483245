# Stage 2: every artifact against its JSON schema (they were validated when
# written; this checks what is on disk now).


rule validate:
    input:
        runs=RUN_ARTIFACTS,
        builds=STAN_BUILDS,
        timings=TIMING_ARTIFACTS,
        sbc=SBC_ARTIFACTS,
    output:
        f"{RESULTS}/validation.json",
    log:
        f"{RESULTS}/logs/validate.log",
    benchmark:
        f"{RESULTS}/benchmarks/validate/validate.tsv"
    shell:
        "{NEXTSTAT} validate {input.runs} {input.builds} {input.timings} {input.sbc} --out {output} > {log} 2>&1"
