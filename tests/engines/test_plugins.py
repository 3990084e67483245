"""Engines from outside the package (``engines.plugins``): an installed distribution's entry
point, ``file.py:ENGINE`` and ``module:ENGINE``, run end to end through the same runner as
ours, with where they came from in the artifact; broken plug-ins named, never hiding the rest."""

from pathlib import Path

import pytest

from nextstat.artifacts import RUN_SCHEMA, validate
from nextstat.engines import ENGINES, Budget, EngineError, engine_listing, engine_provenance, load_engine
from nextstat.engines.plugins import ENTRY_POINT_GROUP
from nextstat.run_spec import RunSpec
from nextstat.runner import execute

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nextstat-rwm"
FILE_ENGINE = f"{EXAMPLE / 'nextstat_rwm.py'}:ENGINE"


def _install(site: Path, distribution: str, version: str, entry_points: dict[str, str]) -> None:
    """What pip leaves for an installed distribution, as much as ``importlib.metadata`` reads:
    its METADATA and entry_points.txt in a dist-info folder on sys.path."""
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example package installed, and two broken plug-ins beside it."""
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "nextstat-rwm", "0.1.0", {"rwm_metropolis": "nextstat_rwm:ENGINE"})
    (site / "broken_plugin.py").write_text("raise ImportError('needs a library that is not here')\n")
    (site / "not_a_spec.py").write_text("ENGINE = {'name': 'not_a_spec'}\n")
    _install(site, "broken-plugin", "2.0", {"broken": "broken_plugin:ENGINE", "not_a_spec": "not_a_spec:ENGINE"})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return site


def _run(engine: str, out: Path) -> dict:
    spec = RunSpec("std_normal_d10", engine, 42, Budget(4, 1000, 4000), settings={}, out=str(out))
    artifact = execute(spec)
    validate(artifact, RUN_SCHEMA)
    return artifact


def test_an_installed_plugin_is_listed_run_and_recorded_with_its_distribution(installed, tmp_path):
    names = [name for name, _ in engine_listing()]
    assert names[: len(ENGINES)] == list(ENGINES) and "rwm_metropolis" in names
    artifact = _run("rwm_metropolis", tmp_path / "run.json")
    assert artifact["status"] == "ok", artifact.get("reason")
    assert artifact["engine_info"]["plugin"] == {
        "kind": "entry-point",
        "value": "nextstat_rwm:ENGINE",
        "distribution": "nextstat-rwm",
        "version": "0.1.0",
    }
    assert artifact["engine_info"]["versions"]["jax"]
    assert artifact["correctness"]["max_z"] < 4.0  # a real sampler: it matches the reference
    assert artifact["diagnostics"]["frozen_chains"] == 0


def test_a_file_plugin_runs_and_is_recorded_with_its_digest(tmp_path):
    artifact = _run(FILE_ENGINE, tmp_path / "run.json")
    assert artifact["status"] == "ok" and artifact["engine"] == FILE_ENGINE
    plugin = artifact["engine_info"]["plugin"]
    assert plugin["kind"] == "file" and plugin["path"].endswith("nextstat_rwm.py") and len(plugin["sha256"]) == 64
    assert engine_provenance("nextstat_nuts") is None


def test_a_module_plugin_loads_by_its_import_path(installed):
    spec = load_engine("nextstat_rwm:ENGINE")
    assert spec.name == "rwm_metropolis" and not spec.nuts
    assert engine_provenance("nextstat_rwm:ENGINE")["kind"] == "module"


def test_broken_plugins_are_named_in_one_line_and_hide_no_other_engine(installed):
    rows = dict(engine_listing())
    assert "not loadable" in rows["broken"] and "needs a library that is not here" in rows["broken"]
    assert "not a nextstat.engines.EngineSpec" in rows["not_a_spec"]
    assert rows["rwm_metropolis"].startswith("plug-in from nextstat-rwm 0.1.0")
    assert set(ENGINES) <= set(rows)
    with pytest.raises(EngineError, match=r"engine 'broken' \(entry point broken_plugin:ENGINE\): ImportError"):
        load_engine("broken")
    with pytest.raises(EngineError, match="declares a dict"):
        load_engine("not_a_spec")
    with pytest.raises(EngineError, match="no file"):
        load_engine("missing/file.py:ENGINE")
    with pytest.raises(EngineError, match="defines no 'SAMPLER'"):
        load_engine(f"{EXAMPLE / 'nextstat_rwm.py'}:SAMPLER")
    with pytest.raises(EngineError, match="unknown engine 'nope'.*path/to/file.py:ENGINE"):
        load_engine("nope")
