# Shared names: the suite's paths, its cases and engine rows, checked against
# nextstat's registries before any job starts.
import json
import os
import shlex
import subprocess
import sys

from nextstat.cases import BUILTIN_CASES, GYM_PREFIX, POSTERIORDB_PREFIX, SIZED_FAMILIES, is_builtin
from nextstat.cases.gym_targets import TARGETS as GYM_TARGETS
from nextstat.cases.posteriordb import ENV_VAR as POSTERIORDB_ENV, list_posteriors, posteriordb_dir
from nextstat.cases.stan_program import is_stan_spec
from nextstat.sizes import chain_sweep_label
from nextstat.engines import REFERENCE_ENGINE, Budget, EngineError, load_engine, resolve_settings

PY = shlex.quote(sys.executable)  # one interpreter for every job (httpstan keys its model cache on it)
# A shared cache directory (config `cache_dir`, e.g. on a cluster's shared disk): JAX's
# persistent compilation cache, CmdStan builds and cached CPU facts go to it, and
# PyStan's httpstan model cache too (through XDG_CACHE_HOME), so only the first job on
# a cluster pays a compile.
# JOB_ENV: the variables every nextstat command gets (the warm worker too, worker.smk).
JOB_ENV = {}
if config.get("cache_dir"):
    _cache = os.path.abspath(os.path.expanduser(config["cache_dir"]))
    JOB_ENV.update(NEXTSTAT_CACHE_DIR=_cache, XDG_CACHE_HOME=_cache + "/xdg")
# posteriordb cases (pdb:<posterior>) are read from config `posteriordb`, else from the
# environment's NEXTSTAT_POSTERIORDB; every job is handed the same absolute directory.
if config.get("posteriordb"):
    JOB_ENV[POSTERIORDB_ENV] = str(posteriordb_dir(config["posteriordb"]))
JOB_ENV_ARGS = "".join(f"{name}={shlex.quote(value)} " for name, value in JOB_ENV.items())
NEXTSTAT = f"{JOB_ENV_ARGS}{PY} -m nextstat"
SUITE = config["suite"]
RESULTS = f"{config['results_dir']}/{SUITE}"
REPORTS = f"{config['reports_dir']}/{SUITE}"
REPORT = f"{REPORTS}/REPORT.md"


def _case_specs():
    """case id -> case spec; a posteriordb case ``pdb:NAME`` has the id NAME (``pdb:*`` stands
    for every posterior of the directory), an inference-gym target ``gym:TARGET`` the id TARGET."""
    specs = {}
    posteriors = None
    entries = []
    for entry in config["cases"]:  # `pdb:*`: every posterior of the directory, in name order
        if entry == POSTERIORDB_PREFIX + "*":
            entries += [POSTERIORDB_PREFIX + name for name in list_posteriors(config.get("posteriordb"))]
        else:
            entries.append(entry)
    for entry in entries:
        if isinstance(entry, str):
            case_id, spec = entry, entry
        elif "stan" in entry:  # a Stan program (and its data): path/to/model.stan@path/to/data.json
            case_id, spec = entry["id"], entry["stan"] + (f"@{entry['data']}" if entry.get("data") else "")
        else:
            case_id, spec = entry["id"], entry["spec"]
        if spec.startswith(POSTERIORDB_PREFIX):
            name = spec.removeprefix(POSTERIORDB_PREFIX)
            if posteriors is None:
                posteriors = list_posteriors(config.get("posteriordb"))
            if name not in posteriors:
                raise ValueError(f"config cases: posteriordb has no posterior '{name}' (from '{spec}')")
            case_id = name if isinstance(entry, str) else case_id
        elif spec.startswith(GYM_PREFIX):
            if spec.removeprefix(GYM_PREFIX) not in GYM_TARGETS:
                raise ValueError(f"config cases: no inference-gym target '{spec}' (written: {', '.join(GYM_TARGETS)})")
            case_id = spec.removeprefix(GYM_PREFIX) if isinstance(entry, str) else case_id
        elif ".py:" not in spec and not is_stan_spec(spec) and not is_builtin(spec):
            raise ValueError(
                f"config cases: unknown case '{spec}' (built-in: {', '.join(BUILTIN_CASES)}; "
                f"sized: {', '.join(SIZED_FAMILIES)})"
            )
        specs[case_id] = spec
    return specs


def _engine_rows():
    """label -> engine row; a row with `chains: [n, ...]` (a chain-count sweep) stands for one
    row per count, labelled `<label>_chains<n>`, each at the row's budget (or the suite's)
    with that many chains. A `report.declared` entry naming the swept label covers them all."""
    rows = []
    swept = {}
    for row in config["engines"]:
        if "chains" not in row:
            rows.append(row)
            continue
        base = {key: value for key, value in row.items() if key != "chains"}
        budget = dict(row.get("budget") or config["budget"])
        members = [{**base, "label": chain_sweep_label(row["label"], n), "budget": {**budget, "chains": n}}
                   for n in row["chains"]]
        swept[row["label"]] = [member["label"] for member in members]
        rows += members
    found = {row["label"]: row for row in rows}
    if len(found) != len(rows):
        raise ValueError("config engines: labels must be unique (a chain sweep's rows are <label>_chains<n>)")
    for entry in (config.get("report") or {}).get("declared") or []:
        entry["labels"] = [member for label in entry["labels"] for member in swept.get(label, [label])]
    return found


CASES = _case_specs()
ENGINE_ROWS = _engine_rows()


def row_python(label):
    """The interpreter a row's jobs run under: the row's `python` (another environment, e.g.
    a library at another version: it must have nextstat installed), else this one."""
    python = ENGINE_ROWS[label].get("python")
    return shlex.quote(os.path.abspath(os.path.expanduser(python))) if python else PY


def nextstat_for(label):
    return f"{JOB_ENV_ARGS}{row_python(label)} -m nextstat"


def _check_in_row_python(row, settings):
    """A row with its own interpreter: its engine and settings are checked there (a plug-in
    may be installed only in that environment), once per row, before any job starts."""
    python = os.path.abspath(os.path.expanduser(row["python"]))
    if not os.access(python, os.X_OK):
        raise ValueError(f"config engines: label '{row['label']}' names python '{row['python']}', not an interpreter")
    check = ("import json, sys; from nextstat.engines import load_engine, resolve_settings; "
             "load_engine(sys.argv[1]); resolve_settings(json.loads(sys.argv[2]), sys.argv[1])")
    done = subprocess.run([python, "-c", check, row["engine"], json.dumps(settings)], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"config engines: label '{row['label']}' (python {row['python']}): {last}")


for _row in config["engines"]:
    if _row.get("python"):
        _check_in_row_python(_row, {**(config.get("settings") or {}), **(_row.get("settings") or {})})
        continue
    try:
        load_engine(_row["engine"])
    except EngineError as exc:
        raise ValueError(f"config engines: label '{_row['label']}': {exc}") from None
SEEDS = config["seeds"]
BUDGET = Budget(**config["budget"]).spec


def budget_for(label):
    """The row's own budget where it has one (a many-chain row among per-chain ones, or a
    chain-count sweep), else the suite's."""
    own = ENGINE_ROWS[label].get("budget")
    return Budget(**own).spec if own else BUDGET


def settings_for(case_id, label):
    """Suite settings, then the case's, then the engine row's: the last word wins."""
    merged = dict(config.get("settings") or {})
    merged.update((config.get("case_settings") or {}).get(case_id, {}))
    merged.update(ENGINE_ROWS[label].get("settings") or {})
    if not ENGINE_ROWS[label].get("python"):  # (a row with its own interpreter is checked there)
        resolve_settings(merged, ENGINE_ROWS[label]["engine"])  # fail before any job starts, naming the setting
    return merged


for _case in CASES:
    for _label in ENGINE_ROWS:
        settings_for(_case, _label)


def set_args(case_id, label):
    return " ".join(
        f"--set {shlex.quote(f'{key}={json.dumps(value)}')}" for key, value in sorted(settings_for(case_id, label).items())
    )


def resource(rule_name, key, default):
    return (config.get("resources") or {}).get(rule_name, {}).get(key, default)


def _row_cases(row):
    """The cases an engine row runs: all of the suite's, or those of them in the row's own
    `cases` list (a built-in case the suite does not run, e.g. under a narrowing
    `--config cases=...`, is simply not run; any other name is a mistake)."""
    if "cases" not in row:
        return list(CASES)
    unknown = [case for case in row["cases"] if case not in CASES and not is_builtin(case)]
    if unknown:
        raise ValueError(f"config engines: label '{row['label']}' lists cases the suite does not have: "
                         f"{', '.join(unknown)} (suite cases: {', '.join(CASES)})")
    return [case for case in CASES if case in row["cases"]]


#: (case, label) pairs that run, in suite order
CASE_ROWS = [(case, label) for case in CASES for label, row in ENGINE_ROWS.items() if case in _row_cases(row)]
RUN_ARTIFACTS = [
    f"{RESULTS}/runs/{case}/{label}/seed{seed}.json" for case, label in CASE_ROWS for seed in SEEDS
]
STAN_CASES = sorted({case for case, label in CASE_ROWS if ENGINE_ROWS[label]["engine"] == REFERENCE_ENGINE})
STAN_BUILDS = expand(f"{RESULTS}/stan_models/{{case}}.json", case=STAN_CASES)


wildcard_constraints:
    case="[A-Za-z0-9_.-]+",
    label="[A-Za-z0-9_.-]+",
    seed=r"\d+",
