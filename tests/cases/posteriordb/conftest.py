"""posteriordb from ``NEXTSTAT_POSTERIORDB`` (its own layout); the tests that need it skip without it."""

import json
import os
import zipfile
from pathlib import Path

import pytest


def read_zipped_json(path: Path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(archive.namelist()[0]))


class PosteriorDB:
    def __init__(self, root: Path):
        self.root = root

    def info(self, posterior: str) -> dict:
        return json.loads((self.root / "posteriors" / f"{posterior}.json").read_text())

    def data(self, posterior: str) -> dict:
        return read_zipped_json(self.root / "data" / "data" / f"{self.info(posterior)['data_name']}.json.zip")

    def reference_names(self, posterior: str) -> list[str]:
        chains = read_zipped_json(self.root / "reference_posteriors" / "draws" / "draws" / f"{posterior}.json.zip")
        return list(chains[0])


@pytest.fixture(scope="session")
def posteriordb() -> PosteriorDB:
    root = os.environ.get("NEXTSTAT_POSTERIORDB")
    if not root:
        pytest.skip("NEXTSTAT_POSTERIORDB is not set: no posteriordb to read programs' data from")
    return PosteriorDB(Path(root))


@pytest.fixture(autouse=True)
def float64():
    import jax

    jax.config.update("jax_enable_x64", True)
