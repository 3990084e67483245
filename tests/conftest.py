import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The posteriordb subset beside the repository (tests only: the tool takes any directory).
SHARED_POSTERIORDB = REPO.parent / "shared" / "posteriordb"
if SHARED_POSTERIORDB.is_dir():
    os.environ.setdefault("NEXTSTAT_POSTERIORDB", str(SHARED_POSTERIORDB))
needs_posteriordb = pytest.mark.skipif(
    not os.environ.get("NEXTSTAT_POSTERIORDB"),
    reason=f"no posteriordb directory: set NEXTSTAT_POSTERIORDB (tests look for {SHARED_POSTERIORDB})",
)
from nextstat.threads import single_thread_xla  # noqa: E402

single_thread_xla()


def snakemake(workdir, config, *extra, cores=2):
    """The workflow in a fresh process on ``config``, in ``workdir``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", REPO / "Snakefile", "--directory", workdir,
         "--configfile", config, "--cores", str(cores), *extra],
        capture_output=True,
        text=True,
    )  # fmt: skip


def nextstat(*args, cwd=REPO, check=False):
    """Run the CLI in a fresh process, as Snakemake does."""
    proc = subprocess.run([sys.executable, "-m", "nextstat", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"nextstat {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def ok_artifact(tmp_path_factory):
    """One real run artifact (BlackJAX on the 10-d standard normal, small budget)."""
    out = tmp_path_factory.mktemp("runs") / "std_normal_d10" / "blackjax_nuts" / "seed42.json"
    nextstat(
        "run",
        "--case",
        "std_normal_d10",
        "--engine",
        "blackjax_nuts",
        "--seed",
        42,
        "--budget",
        "2x150x300",
        "--suite",
        "test",
        "--out",
        out,
        check=True,
    )
    return json.loads(out.read_text())


@pytest.fixture
def artifact(ok_artifact):
    return copy.deepcopy(ok_artifact)


class PosteriorDBFiles:
    """A posteriordb directory's posteriors by name, through nextstat's reader."""

    def __init__(self, root: Path):
        from nextstat.cases.posteriordb.reader import read_posterior

        self.root = root
        self._read = read_posterior

    def info(self, posterior: str) -> dict:
        return self._read(self.root, posterior).info

    def data(self, posterior: str) -> dict:
        return self._read(self.root, posterior).data

    def reference_names(self, posterior: str) -> list[str]:
        return list(self._read(self.root, posterior).reference_draws or {})


@pytest.fixture(scope="session")
def posteriordb() -> PosteriorDBFiles:
    root = os.environ.get("NEXTSTAT_POSTERIORDB")
    if not root:
        pytest.skip(f"no posteriordb directory: set NEXTSTAT_POSTERIORDB (tests look for {SHARED_POSTERIORDB})")
    return PosteriorDBFiles(Path(root))


@pytest.fixture
def float64():
    import jax

    jax.config.update("jax_enable_x64", True)
