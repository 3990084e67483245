# nextstat: one workflow, laptop to cluster. Thin by design: config, validation,
# and the rules by stage; every rule calls the `nextstat` command.
from snakemake.utils import min_version, validate

min_version("9.0")

configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/worker.smk"
include: "workflow/rules/run.smk"
include: "workflow/rules/timing.smk"
include: "workflow/rules/sbc.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


# The summary is a target too: reports are committed and results are not, so in a fresh
# clone the report exists while its summary does not, and the suite must still run.
rule all:
    input:
        f"{RESULTS}/summary.json",
        REPORT,
    default_target: True
