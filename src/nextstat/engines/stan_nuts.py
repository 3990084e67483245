"""Stan's NUTS (``hmc_nuts_diag_e_adapt``): cmdstanpy where a CmdStan is installed, else PyStan.

Timing: the warmup and sampling figures are Stan's own elapsed times, summed over
chains; the frontend's wall time is kept beside them (PyStan's includes httpstan's
transport of draws). Model compilation is Stan's compile time; a compile that hits
the model cache is recorded as such.

Both frontends run chains one at a time on one core unless ``chain_method`` is
``parallel``, so Stan gets the same cores as the JAX engines.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..cases import Case
from ..cases.start_points import start_points
from .base import Budget, EngineUnavailable, RunResult, SettingsError
from .contract import EngineSpec
from .stan_common import pystan_build

NAME = "stan_nuts"

_ELAPSED = re.compile(rb"([0-9.eE+-]+) seconds \((Warm-up|Sampling)\)")


def frontend() -> str:
    """``cmdstanpy`` when a CmdStan installation is found, else ``pystan``."""
    try:
        import cmdstanpy

        cmdstanpy.cmdstan_path()
        return "cmdstanpy"
    except Exception:
        return "pystan"


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"pystan": version("pystan"), "httpstan": version("httpstan"), "cmdstanpy": version("cmdstanpy")}
    if frontend() == "cmdstanpy":
        import cmdstanpy

        out["cmdstan"] = ".".join(map(str, cmdstanpy.cmdstan_version() or ()))
    return out


def check_case(case: Case) -> None:
    if not case.stan_code:
        raise EngineUnavailable(f"case '{case.name}' has no Stan program, so {NAME} cannot run it")


def check_settings(settings: dict[str, Any]) -> None:
    if settings["metric"] != "diag":
        raise SettingsError(f"{NAME} here runs Stan's diag_e metric only; metric={settings['metric']!r} is not offered")
    if settings["dtype"] != "float64":
        raise SettingsError(f"Stan computes in float64; dtype={settings['dtype']!r} is not offered")
    if settings["chain_method"] == "vectorized":
        raise SettingsError(
            f"{NAME} runs each chain on its own; chain_method='vectorized' (lockstep chains) is not offered"
        )


def compile_model(case: Case) -> dict[str, Any]:
    """Build (or find cached) the Stan model; return compile seconds and cache state."""
    check_case(case)
    if frontend() == "cmdstanpy":
        start = time.perf_counter()
        model, cache = _cmdstan_model(case)
        return {
            "frontend": "cmdstanpy",
            "compile_s": time.perf_counter() - start,
            "cache": cache,
            "model": str(model.exe_file),
        }
    import httpstan.models

    assert case.stan_code is not None, "check_case refuses a case without a Stan program"
    model_name = httpstan.models.calculate_model_name(case.stan_code)
    cache = "hit" if _pystan_model_cached(model_name) else "miss"
    start = time.perf_counter()
    pystan_build(case.stan_code, case.stan_data, random_seed=1)
    return {"frontend": "pystan", "compile_s": time.perf_counter() - start, "cache": cache, "model": model_name}


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    check_case(case)
    check_settings(settings)
    # the shared start points; a start where the density is not finite, Stan refuses itself.
    # A case without a JAX density has no map from unconstrained starts to Stan's inits
    # (a posteriordb posterior whose program has none yet): Stan then draws its own, from
    # the same U(-2, 2) on the unconstrained space, seeded by the run seed.
    inits = None if case.missing_jax_density else start_points(case, seed, budget.chains)
    if frontend() == "cmdstanpy":
        return _run_cmdstanpy(case, settings, budget, seed, inits)
    return _run_pystan(case, settings, budget, seed, inits)


def _pystan_model_cached(model_name: str) -> bool:
    import httpstan.cache

    directory = httpstan.cache.model_directory(model_name)
    return directory.is_dir() and any(p.suffix == ".so" for p in directory.iterdir())


def _forget_cached_fits(posterior, kwargs: dict[str, Any], num_chains: int) -> list[Path]:
    """httpstan replays a cached fit when a request repeats (same seed, data, settings and
    inits); a benchmark must sample anew. Delete exactly this run's fits, computed as
    httpstan names them (its request schema and hash), and nobody else's: a suite runs
    other seeds of the same model at the same time. Returns the paths it looked at."""
    import json

    import httpstan.cache
    import httpstan.fits
    import httpstan.schemas
    from stan.model import DataJSONEncoder

    plain = json.loads(DataJSONEncoder().encode(kwargs))
    inits = plain.pop("init", None)
    paths = []
    for chain in range(1, num_chains + 1):
        payload = {
            **plain,
            "function": "stan::services::sample::hmc_nuts_diag_e_adapt",
            "chain": chain,
            "data": posterior.data,
            "init": inits[chain - 1] if inits is not None else {},  # PyStan sends {} when given no inits
            "random_seed": posterior.random_seed,
        }
        args = httpstan.schemas.CreateFitRequest().load(payload)
        function = args.pop("function")
        path = httpstan.cache.fit_path(httpstan.fits.calculate_fit_name(function, posterior.model_name, args))
        path.unlink(missing_ok=True)
        paths.append(path)
    return paths


def _use_process_pool(workers: int) -> None:
    """httpstan runs each chain in a process pool sized to all CPUs, forked from this
    process. Size it ourselves, and start workers from a fork server: forking a process
    in which JAX's threads run can deadlock the child."""
    import concurrent.futures
    import multiprocessing

    import httpstan.services_stub as stub

    stub.executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("forkserver"), initializer=stub.init_worker
    )


def _run_pystan(case: Case, settings: dict[str, Any], budget: Budget, seed: int, inits: np.ndarray | None) -> RunResult:
    import contextlib
    import sys

    import httpstan.models

    assert case.stan_code is not None, "check_case refuses a case without a Stan program"
    model_name = httpstan.models.calculate_model_name(case.stan_code)
    cache = "hit" if _pystan_model_cached(model_name) else "miss"
    start = time.perf_counter()
    posterior = pystan_build(case.stan_code, case.stan_data, random_seed=seed)
    compile_s = time.perf_counter() - start

    request = {
        "num_warmup": budget.warmup,
        "num_samples": budget.draws,
        "save_warmup": True,
        "delta": settings["target_accept"],
        "max_depth": settings["max_tree_depth"],
    }
    if inits is not None:
        request["init"] = [case.stan_init(x) for x in inits]
    fit_files = _forget_cached_fits(posterior, request, budget.chains)
    _use_process_pool(budget.chains if settings["chain_method"] == "parallel" else 1)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        fit = posterior.sample(num_chains=budget.chains, **request)
    wall_s = time.perf_counter() - start

    # fit._draws is (sampler columns + flat parameters, warmup + draws, chain).
    columns = list(fit.sample_and_sampler_param_names) + list(fit.constrained_param_names)
    table = np.moveaxis(np.asarray(fit._draws), 0, -1).transpose(1, 0, 2)  # (chain, iteration, column)
    stan_names = [_pystan_name(name) for name in case.param_names]
    draws = table[:, budget.warmup :, [columns.index(n) for n in stan_names]]
    column = {name: table[..., columns.index(name)] for name in fit.sample_and_sampler_param_names}

    warmup_s, sampling_s = _elapsed(fit.stan_outputs)
    return _result(
        case,
        budget,
        draws,
        column,
        compile_s,
        warmup_s,
        sampling_s,
        {
            "frontend": "pystan",
            "compile_cache": cache,
            "model": model_name,
            "frontend_wall_s": wall_s,
            "chain_workers": 1 if settings["chain_method"] != "parallel" else budget.chains,
            "fit_cache_files": [str(p) for p in fit_files],
            "timing_source": "Stan's elapsed warm-up/sampling times, summed over chains",
        },
    )


def _pystan_name(name: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", name)


def _elapsed(stan_outputs) -> tuple[float, float]:
    warmup = sampling = 0.0
    for output in stan_outputs:
        for seconds, phase in _ELAPSED.findall(output):
            if phase == b"Warm-up":
                warmup += float(seconds)
            else:
                sampling += float(seconds)
    return warmup, sampling


def _cmdstan_model(case: Case):
    import hashlib

    import cmdstanpy

    from ..paths import cache_dir

    assert case.stan_code is not None, "check_case refuses a case without a Stan program"
    digest = hashlib.sha256(case.stan_code.encode()).hexdigest()[:16]
    # CmdStan's make takes the file name as a target and as the model's C++ name: only
    # letters, digits and underscores (a posteriordb case is named ``pdb:<posterior>``)
    stem = re.sub(r"[^A-Za-z0-9_]", "_", case.name)
    stan_file = cache_dir("stan-models") / f"{stem}-{digest}.stan"
    if not stan_file.exists():
        stan_file.write_text(case.stan_code)
    exe = stan_file.with_suffix("")
    cache = "hit" if exe.exists() else "miss"
    return cmdstanpy.CmdStanModel(stan_file=str(stan_file)), cache


def _run_cmdstanpy(
    case: Case, settings: dict[str, Any], budget: Budget, seed: int, inits: np.ndarray | None
) -> RunResult:
    import tempfile

    start = time.perf_counter()
    model, cache = _cmdstan_model(case)
    compile_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="nextstat-cmdstan-") as output_dir:
        start = time.perf_counter()
        fit = model.sample(
            data=dict(case.stan_data or {}),
            chains=budget.chains,
            parallel_chains=budget.chains if settings["chain_method"] == "parallel" else 1,
            seed=seed,
            iter_warmup=budget.warmup,
            iter_sampling=budget.draws,
            save_warmup=True,
            adapt_delta=settings["target_accept"],
            max_treedepth=settings["max_tree_depth"],
            inits=None if inits is None else [case.stan_init(x) for x in inits],
            sig_figs=15,
            output_dir=output_dir,
            show_progress=False,
        )
        wall_s = time.perf_counter() - start
        table = np.asarray(fit.draws(inc_warmup=True)).transpose(1, 0, 2)  # (chain, iteration, column)
        columns = list(fit.column_names)
        warmup_s, sampling_s = cmdstan_elapsed(fit.time)
    draws = table[:, budget.warmup :, [columns.index(n) for n in case.param_names]]
    column = {name: table[..., columns.index(name)] for name in columns if name.endswith("__")}
    return _result(
        case,
        budget,
        draws,
        column,
        compile_s,
        warmup_s,
        sampling_s,
        {
            "frontend": "cmdstanpy",
            "compile_cache": cache,
            "model": str(model.exe_file),
            "frontend_wall_s": wall_s,
            "timing_source": "CmdStan's per-chain elapsed times (CSV writing included), summed over chains",
        },
    )


def cmdstan_elapsed(chain_times) -> tuple[float, float]:
    """(warmup, sampling) seconds summed over chains from cmdstanpy's ``fit.time``: a list
    with one {"warmup", "sampling", "total"} dict per chain (cmdstanpy 1.3; a mapping of
    chain to such a dict is read too)."""
    per_chain = list(chain_times.values()) if isinstance(chain_times, dict) else list(chain_times)
    if not per_chain or any("warmup" not in t or "sampling" not in t for t in per_chain):
        raise RuntimeError(f"CmdStan reported no per-chain elapsed times: {chain_times!r}")
    return float(sum(t["warmup"] for t in per_chain)), float(sum(t["sampling"] for t in per_chain))


def _result(case, budget, draws, column, compile_s, warmup_s, sampling_s, info) -> RunResult:
    warm, kept = slice(0, budget.warmup), slice(budget.warmup, None)
    n_leapfrog = column["n_leapfrog__"].astype(int)
    return RunResult(
        draws=np.ascontiguousarray(draws, dtype=float),
        param_names=case.param_names,
        sample_stats={
            "n_steps": n_leapfrog[:, kept],
            "diverging": column["divergent__"][:, kept].astype(bool),
            "energy": column["energy__"][:, kept].astype(float),
            "acceptance_rate": column["accept_stat__"][:, kept].astype(float),
            "step_size": column["stepsize__"][:, kept].astype(float),
            "tree_depth": column["treedepth__"][:, kept].astype(int),
        },
        grad_evals_warmup=int(n_leapfrog[:, warm].sum()),
        grad_evals_sampling=int(n_leapfrog[:, kept].sum()),
        compile_s=compile_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        engine_info={**info, "step_size_per_chain": column["stepsize__"][:, -1].astype(float).tolist()},
    )


ENGINE = EngineSpec(
    name=NAME,
    target="stan-program",
    run=run,
    versions=versions,
    compile=compile_model,
    callback_bound_frontends=("pystan",),
    frontend_caveats={
        "pystan": "**Stan rows ran through PyStan** (no CmdStan installed). Their times are Stan's own "
        "elapsed warmup/sampling times, but under PyStan those include httpstan's per-draw "
        "output callbacks, so µs/grad and ESS/s understate Stan's sampler itself (CmdStan's "
        "per-step cost is lower); ESS/grad is unaffected, and no ESS/s ratio is quoted for or "
        "against these rows. The frontend's wall time is kept in each artifact's "
        "`engine_info`. Install CmdStan (`python -m cmdstanpy.install_cmdstan`, or set "
        "`CMDSTAN`) for Stan's own speed."
    },
)
