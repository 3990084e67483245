"""The commit that holds the code a run recorded, found by its source digest.

Every artifact records ``source_sha256``, a digest of nextstat's Python sources as they ran
(``runner.source_sha256``: each ``*.py`` under the package, path and content, in path
order). This module computes the same digest for every commit of a git repository's
``src/nextstat`` without checking anything out (``git cat-file`` reads the blobs), so that
``nextstat reproduce --checkout auto`` can rerun each recorded run with its own code, and
exports a commit's sources into a scratch folder for the reruns to import. A digest that no
commit holds was made from uncommitted code: nobody can rerun it exactly, and the caller
says so.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

PACKAGE_PATH = "src/nextstat"  # where a nextstat repository keeps the package
EXPORTED = ("src", "schemas")  # what a rerun of an older commit needs from its tree


class SourceHistoryError(ValueError):
    """No git repository where one was needed, or git failed."""


def repository_root(start: Path) -> Path:
    """The root of the git work tree holding ``start``."""
    done = _git(start, "rev-parse", "--show-toplevel")
    return Path(done.decode().strip())


def commits_for_sources(repo: Path, digests: Iterable[str]) -> dict[str, str]:
    """{source digest: the newest commit whose ``src/nextstat`` has it} for the digests found
    in the history of ``HEAD`` (newest first, stopping once every digest is found), then,
    for those still missing, in the commits only other branches and tags reach (a report
    made on a branch that was never merged)."""
    wanted = set(digests)
    found: dict[str, str] = {}
    digest_of_tree: dict[str, str] = {}
    for revisions in (["HEAD"], ["--all", "--not", "HEAD"]):
        if len(found) == len(wanted):
            break
        commits = _git(repo, "rev-list", *revisions).decode().split()
        trees = _package_trees(repo, commits)
        for commit in commits:
            tree = trees.get(commit)
            if tree is None:
                continue
            if tree not in digest_of_tree:
                digest_of_tree[tree] = tree_source_sha256(repo, tree)
            digest = digest_of_tree[tree]
            if digest in wanted and digest not in found:
                found[digest] = commit
                if len(found) == len(wanted):
                    break
    return found


def tree_source_sha256(repo: Path, tree: str) -> str:
    """``runner.source_sha256`` of the package tree ``tree`` (a git tree id of ``src/nextstat``)."""
    listing = _git(repo, "ls-tree", "-r", "-z", tree).decode().split("\0")
    files = []
    for line in filter(None, listing):
        meta, name = line.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind == "blob" and name.endswith(".py") and mode != "120000":
            files.append((PurePosixPath(name), blob))
    # Path objects sort by their parts, as runner.source_sha256's sorted(rglob) does
    files.sort(key=lambda item: item[0].parts)
    contents = _blobs(repo, [blob for _, blob in files])
    digest = hashlib.sha256()
    for path, blob in files:
        digest.update(str(path).encode() + b"\0" + contents[blob] + b"\0")
    return digest.hexdigest()


def export_sources(repo: Path, commit: str, destination: Path) -> Path:
    """Write the commit's ``src`` and ``schemas`` under ``destination``; the folder to put
    first on a rerun's import path (``destination/src``)."""
    archive = _git(repo, "archive", "--format=tar", commit, *EXPORTED)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: refuse links and paths out of the folder
            tar.extractall(destination, filter="data")
        else:  # an archive git just made of this repository's own tree
            tar.extractall(destination)  # noqa: S202
    return destination / "src"


def _package_trees(repo: Path, commits: list[str]) -> dict[str, str]:
    """{commit: tree id of its src/nextstat} in one ``git cat-file`` call (commits without it left out)."""
    query = "".join(f"{commit}:{PACKAGE_PATH}\n" for commit in commits).encode()
    answer = _git(repo, "cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=query).decode().splitlines()
    trees = {}
    for commit, line in zip(commits, answer, strict=True):
        parts = line.split()
        if len(parts) == 2 and parts[1] == "tree":
            trees[commit] = parts[0]
    return trees


def _blobs(repo: Path, blobs: list[str]) -> dict[str, bytes]:
    """The contents of the given blobs, read in one ``git cat-file --batch`` call."""
    unique = list(dict.fromkeys(blobs))
    raw = _git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in unique).encode())
    contents, position = {}, 0
    for blob in unique:  # in the order asked, each as "<id> blob <size>\n<bytes>\n"
        end = raw.index(b"\n", position)
        name, _, size = raw[position:end].split(b" ")
        if name.decode() != blob:
            raise SourceHistoryError(f"git cat-file answered {name.decode()} for {blob}")
        start = end + 1
        contents[blob] = raw[start : start + int(size)]
        position = start + int(size) + 1
    return {blob: contents[blob] for blob in unique}


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise SourceHistoryError(
            "git is not installed: --checkout auto needs it to find the record's commits"
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SourceHistoryError(f"git {args[0]} in {repo}: {message[-1] if message else 'failed'}")
    return done.stdout
