"""`nextstat reproduce --checkout auto` finds each run's own commit by the source digest the
run recorded: the digest computed from a commit's tree equals the one the run computed from
its files (ordering included), an exported commit rebuilds those files, and code that no
commit holds (uncommitted changes) is said to be so."""

import subprocess

import pytest

from nextstat.reproduce import own_commit_sources
from nextstat.runner import package_sha256, source_sha256
from nextstat.source_history import SourceHistoryError, commits_for_sources, export_sources, repository_root


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository with two commits of a small package whose names sort differently as
    strings and as paths ("a/b.py" against "a-b.py"), and schemas beside it."""
    root = tmp_path / "repo"
    package = root / "src" / "nextstat"
    (package / "a").mkdir(parents=True)
    (root / "schemas").mkdir()
    (package / "__init__.py").write_text("")
    (package / "a" / "b.py").write_text("B = 1\n")
    (package / "a-b.py").write_text("AB = 1\n")
    (package / "data.json").write_text("{}")  # not Python: not in the digest, but exported
    (root / "schemas" / "run.schema.json").write_text("{}")
    _git(root, "init", "-q")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    first = (package_sha256(package), _git(root, "rev-parse", "HEAD"))
    (package / "a" / "b.py").write_text("B = 2\n")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "second")
    second = (package_sha256(package), _git(root, "rev-parse", "HEAD"))
    (package / "a" / "b.py").write_text("B = 3\n")  # uncommitted
    return root, first, second, package_sha256(package)


def test_each_digest_is_found_at_its_commit_and_uncommitted_code_at_none(repo):
    root, (first, first_commit), (second, second_commit), dirty = repo
    assert len({first, second, dirty}) == 3
    assert repository_root(root / "src" / "nextstat") == root.resolve()
    found = commits_for_sources(root, {first, second, dirty})
    assert found == {first: first_commit, second: second_commit}


def test_a_commit_on_a_branch_head_does_not_reach_is_found_after_heads_history(repo):
    """A report made on a branch that was never merged: its digest is in no commit of HEAD's
    history but in the branch's; a digest HEAD's history holds is still found there."""
    root, (first, first_commit), (second, second_commit), _ = repo
    git = ("-c", "user.name=t", "-c", "user.email=t@t")
    _git(root, *git, "stash", "-q")
    _git(root, "checkout", "-q", "-b", "experiment", first_commit)
    package = root / "src" / "nextstat"
    (package / "a-b.py").write_text("AB = 2\n")
    _git(root, *git, "commit", "-qam", "on the branch")
    branch = (package_sha256(package), _git(root, "rev-parse", "HEAD"))
    _git(root, "checkout", "-q", "-")
    assert _git(root, "rev-parse", "HEAD") == second_commit
    found = commits_for_sources(root, {first, second, branch[0]})
    assert found == {first: first_commit, second: second_commit, branch[0]: branch[1]}


def test_an_exported_commit_rebuilds_the_files_it_digested(repo, tmp_path):
    root, (first, first_commit), _, _ = repo
    sources = export_sources(root, first_commit, tmp_path / "out")
    assert package_sha256(sources / "nextstat") == first
    assert (sources / "nextstat" / "data.json").is_file() and (
        tmp_path / "out" / "schemas" / "run.schema.json"
    ).is_file()


def test_this_checkouts_digest_is_computed_as_runs_compute_it():
    """The installed package's own digest, by the function runs call (cached) and uncached."""
    from nextstat.paths import PACKAGE_DIR

    assert source_sha256() == package_sha256(PACKAGE_DIR)


def test_auto_checkout_gives_each_run_its_commit_or_says_why_not(repo, tmp_path):
    root, (first, first_commit), (second, _), dirty = repo

    def entry(digest=None, git=None):
        environment = {"git": git} if git else None
        return {"record": {}, "artifact": {"provenance": {"source_sha256": digest}, "environment": environment}}

    entries = [
        entry(first),
        entry(second),
        entry(dirty),
        entry(git={"commit": first_commit, "dirty": False}),  # an older record: no digest, a clean commit
        entry(git={"commit": first_commit, "dirty": True}),
        entry(source_sha256()),  # this checkout's code, in no commit of that repository: run as it is
    ]
    lines = []
    sources, notes = own_commit_sources(entries, None, tmp_path / "scratch", lines.append, repo=root)
    assert sources[0] == sources[3] and package_sha256(sources[0] / "nextstat") == first
    assert package_sha256(sources[1] / "nextstat") == second
    assert notes[0] == f"rerun at {first_commit[:10]}"
    assert sources[2] is None and "in no commit of" in notes[2]
    assert sources[4] is None and "uncommitted changes" in notes[4]
    assert sources[5] is None and notes[5] is None
    assert lines == ["--checkout auto: 2 commit(s) exported for 3 of 6 runs; the rest rerun with this checkout"]


def test_a_folder_outside_git_is_one_clear_error(tmp_path):
    with pytest.raises(SourceHistoryError, match="rev-parse"):
        repository_root(tmp_path)
