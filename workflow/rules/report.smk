# Stage 4: REPORT.md (one screen up front), DETAILS.md, the charts and the tables (CSV). The charts and tables are also
# items of Snakemake's HTML report: snakemake --report reports/<suite>/report.html


rule report:
    input:
        f"{RESULTS}/summary.json",
    output:
        md=REPORT,
        details=f"{REPORTS}/DETAILS.md",
        charts=report(
            directory(f"{REPORTS}/charts"),
            patterns=["{name}.png"],
            caption="../report/charts.rst",
            category="Charts",
            labels={"chart": "{name}"},
        ),
        tables=report(
            directory(f"{REPORTS}/tables"),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        f"{RESULTS}/logs/report.log",
    shell:
        "{NEXTSTAT} report --summary {input} --out-dir {REPORTS} > {log} 2>&1"
