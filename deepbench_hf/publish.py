"""Publish a dataset folder to the HuggingFace Hub as a dataset repo, in one commit.

``deepbench push DIR REPO_ID [--private] [--revision BRANCH] [--config NAME]...``:

1. checks the folder first (every shard against its SHA-256, as ``deepbench verify`` does) and
   refuses to push an inconsistent folder;
2. creates the dataset repo if needed (``--private`` for a new private repo) and the branch
   ``--revision`` if it does not exist (from ``main``);
3. uploads ``README.md`` and every file of the chosen config folders (all by default): shards,
   ``deepbench.json``, ``preview.png``; and deletes, in the same commit, remote files inside those
   config folders that the local folder no longer has (e.g. shards of an older build with another
   shard count, which ``load_dataset`` would otherwise read too). Nothing outside the chosen
   config folders is deleted.

With ``--config``, only those config folders are uploaded, together with the ``README.md`` of the
whole folder (it declares every local config): use it to update some configs of a repo that
already holds the others.

The token comes from the usual ``huggingface_hub`` sources (``HF_TOKEN``, ``hf auth login``); it is
never printed or written. A failed push changes nothing locally and reports one line saying what
to do. Afterwards ``load_dataset(REPO_ID, "<config>")`` works with no loading script.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DeepBenchError
from .records import INFO_FILE


class PublishError(DeepBenchError):
    """A push failed or was refused; the message is one line and says what to do."""


@dataclass
class PushResult:
    """What a push did."""

    repo_id: str
    revision: str
    configs: list[str]
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commit_url: str | None = None


def _local_configs(folder: Path) -> list[str]:
    return sorted(p.parent.name for p in folder.glob(f"*/{INFO_FILE}"))


def _files(folder: Path, configs: Sequence[str]) -> list[str]:
    """Repo paths to upload: README.md and every non-hidden file of the config folders."""
    paths = ["README.md"]
    for name in configs:
        for path in sorted((folder / name).rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not any(part.startswith(".") for part in rel.parts):
                paths.append(rel.as_posix())
    return paths


_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def _redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
    return _TOKEN_PATTERN.sub("hf_***", text)


def _reason(exc: BaseException, token: str | None) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if status is not None and str(status) not in text:
        text = f"HTTP {status}: {text}"
    elif status is None and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    text = _redact(text, token)
    return text if len(text) <= 240 else text[:239] + "…"


@contextmanager
def _hub_timeout(seconds: float | None) -> Iterator[None]:
    """huggingface_hub's shared HTTP session with a per-operation ``timeout`` (if not None)."""
    if seconds is None:
        yield
        return
    from huggingface_hub import get_session

    session = get_session()
    previous = session.timeout
    session.timeout = seconds
    try:
        yield
    finally:
        session.timeout = previous


def _hint(exc: BaseException) -> str:
    if "timeout" in type(exc).__name__.lower():
        return (
            "the Hub did not answer in time: check the network and HF_ENDPOINT, or raise --timeout"
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return "check the token (HF_TOKEN or `hf auth login`) and its write access to the repo"
    if status is not None and status >= 500:
        return "the Hub had an error; retry later"
    if status is None:
        return "check the network and HF_ENDPOINT"
    return "check the repo id, the branch and the token"


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    configs: Sequence[str] | None = None,
    token: str | None = None,
    check: bool = True,
    commit_message: str | None = None,
    timeout: float | None = None,
) -> PushResult:
    """Upload a dataset folder to the Hub dataset repo ``repo_id`` in one commit.

    Parameters
    ----------
    folder
        The dataset folder (``deepbench build ... --out DIR``).
    repo_id
        ``namespace/name`` of the dataset repo (created if missing).
    private
        Create the repo private (an existing repo keeps its visibility).
    revision
        Branch to commit to (created from ``main`` if missing); default ``main``.
    configs
        Upload only these configs' folders (plus ``README.md``); default all.
    token
        A Hub token; default the usual ``huggingface_hub`` sources. Never printed.
    check
        Verify every shard's SHA-256 against its build record first (default true).
    commit_message
        The commit title.
    timeout
        Seconds each HTTP request may spend connecting, sending or waiting for an answer;
        default ``None``, huggingface_hub's (no limit). Applied to huggingface_hub's shared HTTP
        session for the duration of the push; huggingface_hub retries a timed-out upload step up
        to 5 times, and Xet transfers follow hf_xet's own timeouts.

    Raises
    ------
    PublishError
        One line: what failed and what to do. The local folder is never modified.
    """
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise PublishError(f"{folder}: no README.md; push a folder written by deepbench build")
    local = _local_configs(folder)
    if not local:
        raise PublishError(f"{folder}: no config folders with {INFO_FILE}; nothing to push")
    chosen = list(configs) if configs else local
    missing = [name for name in chosen if name not in local]
    if missing:
        raise PublishError(f"--config {missing[0]}: not in {folder} (configs: {', '.join(local)})")
    if check:
        from .verify import verify

        report = verify(folder, configs=chosen)
        if not report.ok:
            raise PublishError(
                f"{folder}: {len(report.problems)} problem(s), first: {report.problems[0]}; "
                "nothing was pushed: run 'deepbench verify' and rebuild"
            )
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(f"repo id {repo_id!r}: {str(exc).splitlines()[0]}") from None
    paths = _files(folder, chosen)
    branch = revision or "main"
    result = PushResult(repo_id, branch, chosen)
    try:
        with _hub_timeout(timeout):
            result.commit_url, result.uploaded, result.deleted = _upload(
                folder, repo_id, paths, chosen, private, branch, token, commit_message
            )
    except PublishError:
        raise
    except Exception as exc:  # any client or network error becomes one line
        from huggingface_hub import get_token

        known = token or get_token()
        raise PublishError(
            f"push to {repo_id} failed ({_reason(exc, known)}); the local folder {folder} is "
            "unchanged; "
            f"{_hint(exc)}, then rerun the same command"
        ) from None
    return result


def _upload(
    folder: Path,
    repo_id: str,
    paths: list[str],
    configs: list[str],
    private: bool,
    branch: str,
    token: str | None,
    commit_message: str | None,
) -> tuple[str | None, list[str], list[str]]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
    try:
        remote = api.list_repo_files(repo_id, repo_type="dataset", revision=branch)
    except RevisionNotFoundError:
        remote = []
    local = set(paths)
    stale = [
        p for p in remote if p not in local and any(p.startswith(f"{name}/") for name in configs)
    ]
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(folder / p)) for p in paths
    ]
    operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
    message = commit_message or f"deepbench push: {', '.join(configs)}"
    info = api.create_commit(
        repo_id,
        operations,
        commit_message=message,
        repo_type="dataset",
        revision=branch,
    )
    return getattr(info, "commit_url", None), paths, stale


__all__ = ["PublishError", "PushResult", "push"]
