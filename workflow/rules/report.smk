# Stage 4: REPORT.md and its charts.


rule report:
    input:
        f"{RESULTS}/summary.json",
    output:
        REPORT,
    log:
        f"{RESULTS}/logs/report.log",
    shell:
        "{NEXTSTAT} report --summary {input} --out-dir {REPORTS} > {log} 2>&1"
