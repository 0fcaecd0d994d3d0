"""A local stand-in for the few HuggingFace Hub endpoints that ``huggingface_hub`` and ``datasets``
use to push and load a dataset repo. Standard library only; listens on 127.0.0.1.

Start it with :func:`start` (a thread in the calling process) and point the client at it with
``HF_ENDPOINT=<server.url>`` and ``HF_HUB_DISABLE_XET=1`` (set before ``huggingface_hub`` is
imported: the endpoint is read at import time).

Endpoints (``{t}`` is ``datasets``, ``models`` or ``spaces``; ``{repo}`` is ``namespace/name``):

* ``POST /api/repos/create``, ``POST /api/{t}/{repo}/branch/{branch}``, ``GET /api/{t}/{repo}/refs``
* ``GET /api/{t}/{repo}[/revision/{rev}]`` (repo info with ``sha`` and ``siblings``)
* ``GET /api/{t}/{repo}/tree/{rev}[/{path}]``, ``POST /api/{t}/{repo}/paths-info/{rev}``
* ``POST /api/{t}/{repo}/preupload/{rev}`` (``.parquet``/``.png``/large files go to LFS)
* ``POST /{t}/{repo}.git/info/lfs/objects/batch``, ``PUT /__lfs/{oid}``, ``POST /__lfs/verify``
* ``POST /api/{t}/{repo}/commit/{rev}`` (ndjson: header, file, lfsFile, deletedFile/Folder)
* ``GET|HEAD /{t}/{repo}/resolve/{rev}/{path}`` (with ``Range``)
* ``POST /api/validate-yaml``: checks ``size_categories`` and ``task_categories`` against the
  Hub's lists (the real Hub checks much more).

Tests may set ``server.state.token`` (writes then need ``Authorization: Bearer <token>``) and
``server.state.fail[(method, action)] = status`` to make an endpoint fail (``action`` is e.g.
``"commit"``, ``"preupload"``, ``"create"``). ``server.state.log`` lists ``(method, path, status)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".png", ".jpg", ".arrow", ".bin", ".h5", ".fits", ".npz", ".npy")
LFS_MIN_SIZE = 10 * 1024 * 1024

# The Hub's task categories (huggingface.js packages/tasks/src/pipelines.ts) and size buckets.
HUB_TASK_CATEGORIES = {
    "text-classification", "token-classification", "table-question-answering",
    "question-answering", "zero-shot-classification", "translation", "summarization",
    "feature-extraction", "text-generation", "text2text-generation", "fill-mask",
    "sentence-similarity", "text-to-speech", "text-to-audio", "automatic-speech-recognition",
    "audio-to-audio", "audio-classification", "voice-activity-detection", "depth-estimation",
    "image-classification", "object-detection", "image-segmentation", "text-to-image",
    "image-to-text", "image-to-image", "image-to-video", "unconditional-image-generation",
    "video-classification", "reinforcement-learning", "robotics", "tabular-classification",
    "tabular-regression", "tabular-to-text", "table-to-text", "multiple-choice", "text-ranking",
    "text-retrieval", "time-series-forecasting", "text-to-video", "visual-question-answering",
    "zero-shot-image-classification", "graph-ml", "mask-generation",
    "zero-shot-object-detection", "text-to-3d", "image-to-3d", "image-feature-extraction",
    "video-text-to-text", "other",
}  # fmt: skip
HUB_SIZE_CATEGORIES = {
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
    "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T",
}  # fmt: skip


def git_oid(data: bytes) -> str:
    """The git blob id of ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Entry:
    """A file in a commit."""

    data: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        return git_oid(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, Entry]
    date: str


@dataclass
class Repo:
    repo_type: str  # "datasets", "models", "spaces"
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        matches = [c for oid, c in self.commits.items() if oid.startswith(revision)]
        return matches[0] if len(matches) == 1 and len(revision) >= 7 else None


@dataclass
class State:
    """Everything the server holds; tests read and tweak it."""

    repos: dict[tuple[str, str], Repo] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)
    token: str | None = None
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: int = 0

    def new_commit(self, repo: Repo, parent: str | None, message: str, files: dict) -> Commit:
        self.counter += 1
        seed = f"{repo.repo_id}:{self.counter}:{message}".encode()
        oid = hashlib.sha1(seed).hexdigest()
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        commit = Commit(oid, parent, message, files, date)
        repo.commits[oid] = commit
        return commit


class HubError(Exception):
    """An HTTP error answer: status, message, and the ``X-Error-Code`` the client looks at."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


def _check_yaml(content: str) -> list[str]:
    """Naive checks of a README's YAML block (top-level lists of scalars only)."""
    match = re.match(r"^---\n(.*?)\n---", content, re.S)
    if not match:
        return []
    values: dict[str, list[str]] = {}
    key = None
    for line in match.group(1).splitlines():
        top = re.match(r"^([A-Za-z_]+):\s*(.*)$", line)
        if top:
            key = top.group(1)
            values[key] = [top.group(2).strip()] if top.group(2).strip() else []
        elif key and re.match(r"^- ", line):
            values[key].append(line[2:].strip().strip("'\""))
    errors = []
    for value in values.get("size_categories", []):
        if value not in HUB_SIZE_CATEGORIES:
            errors.append(f'"size_categories" must be one of the Hub buckets, got "{value}"')
    for value in values.get("task_categories", []):
        if value not in HUB_TASK_CATEGORIES:
            errors.append(f'"task_categories": unknown task "{value}"')
    return errors


class Handler(BaseHTTPRequestHandler):
    """Routes requests to :class:`State`."""

    protocol_version = "HTTP/1.1"
    server: FakeHubServer

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.server.state

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        with self.state.lock:
            self.state.log.append((self.command, self.path, status))

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers=headers)

    def _authorised(self) -> bool:
        token = self.state.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        try:
            self._route(parts, query)
        except HubError as exc:
            headers = {"X-Error-Code": exc.code} if exc.code else {}
            headers["X-Error-Message"] = exc.message
            self._json(exc.status, {"error": exc.message, **exc.extra}, headers)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _dispatch

    # -- routing --------------------------------------------------------------------------------

    def _fail_if_asked(self, action: str) -> None:
        status = self.state.fail.get((self.command, action))
        if status:
            self._body()
            raise HubError(status, f"injected failure of {action}")

    def _route(self, parts: list[str], query: dict[str, list[str]]) -> None:
        if parts[:2] == ["api", "repos"] and parts[2:] == ["create"]:
            return self._create_repo()
        if parts[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml()
        if parts[0] == "__lfs":
            return self._lfs_object(parts[1:])
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in ("datasets", "models", "spaces"):
            repo = self._repo(parts[1], f"{parts[2]}/{parts[3]}")
            action, rest = (parts[4], parts[5:]) if len(parts) > 4 else ("info", [])
            self._fail_if_asked(action)
            handler = getattr(self, f"_api_{action.replace('-', '_')}", None)
            if handler is None:
                raise HubError(404, f"unknown endpoint {action}")
            return handler(repo, rest, query)
        if len(parts) >= 3 and parts[0] in ("datasets", "spaces"):
            if parts[2].endswith(".git") and parts[3:] == ["info", "lfs", "objects", "batch"]:
                return self._lfs_batch(self._repo(parts[0], f"{parts[1]}/{parts[2][:-4]}"))
            if len(parts) >= 5 and parts[3] == "resolve":
                repo = self._repo(parts[0], f"{parts[1]}/{parts[2]}")
                self._fail_if_asked("resolve")
                return self._resolve(repo, parts[4], "/".join(parts[5:]))
        raise HubError(404, f"unknown endpoint /{'/'.join(parts)}")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        with self.state.lock:
            repo = self.state.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._authorised()):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Revision {revision} not found", "RevisionNotFound")
        return commit

    # -- repos ----------------------------------------------------------------------------------

    def _create_repo(self) -> None:
        self._fail_if_asked("create")
        payload = json.loads(self._body() or b"{}")
        if not self._authorised():
            raise HubError(401, "Invalid credentials in Authorization header")
        repo_type = payload.get("type") or "model"
        plural = {"dataset": "datasets", "space": "spaces"}.get(repo_type, "models")
        namespace = payload.get("organization") or "user"
        repo_id = f"{namespace}/{payload['name']}"
        prefix = "" if plural == "models" else f"{plural}/"
        url = f"{self.base}/{prefix}{repo_id}"
        with self.state.lock:
            if (plural, repo_id) in self.state.repos:
                raise HubError(409, f"You already created this {repo_type} repo", url=url)
            private = payload.get("private") or payload.get("visibility") == "private"
            repo = Repo(plural, repo_id, bool(private))
            attributes = Entry(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", lfs=False)
            commit = self.state.new_commit(
                repo, None, "initial commit", {".gitattributes": attributes}
            )
            repo.branches["main"] = commit.oid
            self.state.repos[(plural, repo_id)] = repo
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _api_branch(self, repo: Repo, rest: list[str], query: dict) -> None:
        if not self._authorised():
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = json.loads(self._body() or b"{}")
        branch = "/".join(rest)
        with self.state.lock:
            if branch in repo.branches:
                raise HubError(409, f"Branch {branch} already exists")
            start = payload.get("startingPoint") or "main"
            repo.branches[branch] = self._commit(repo, start).oid
        self._json(200, {})

    def _api_refs(self, repo: Repo, rest: list[str], query: dict) -> None:
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in repo.branches.items()
        ]
        self._json(200, {"branches": branches, "converts": [], "tags": []})

    def _info(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": commit.date,
            "createdAt": commit.date,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
        }

    def _api_info(self, repo: Repo, rest: list[str], query: dict) -> None:
        self._json(200, self._info(repo, self._commit(repo, "main")))

    def _api_revision(self, repo: Repo, rest: list[str], query: dict) -> None:
        self._json(200, self._info(repo, self._commit(repo, "/".join(rest))))

    # -- listing --------------------------------------------------------------------------------

    def _entry_json(self, path: str, entry: Entry | None, commit: Commit) -> dict[str, Any]:
        if entry is None:
            oid = hashlib.sha1(f"tree:{commit.oid}:{path}".encode()).hexdigest()
            return {"type": "directory", "oid": oid, "size": 0, "path": path}
        value: dict[str, Any] = {
            "type": "file",
            "oid": entry.oid,
            "size": len(entry.data),
            "path": path,
            "lastCommit": {"id": commit.oid, "title": commit.message, "date": commit.date},
        }
        if entry.lfs:
            value["lfs"] = {"oid": entry.sha256, "size": len(entry.data), "pointerSize": 134}
        return value

    def _listing(self, commit: Commit, folder: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{folder}/" if folder else ""
        out: dict[str, dict[str, Any]] = {}
        for path, entry in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :].split("/")
            for depth in range(1, len(rest)):
                directory = prefix + "/".join(rest[:depth])
                if depth == 1 or recursive:
                    out.setdefault(directory, self._entry_json(directory, None, commit))
                if not recursive:
                    break
            if len(rest) == 1 or recursive:
                out[path] = self._entry_json(path, entry, commit)
        return list(out.values())

    def _api_tree(self, repo: Repo, rest: list[str], query: dict) -> None:
        commit = self._commit(repo, rest[0])
        folder = "/".join(rest[1:]).strip("/")
        if folder and not any(p.startswith(folder + "/") for p in commit.files):
            raise HubError(404, f"Entry {folder} not found", "EntryNotFound")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        self._json(200, self._listing(commit, folder, recursive))

    def _api_paths_info(self, repo: Repo, rest: list[str], query: dict) -> None:
        commit = self._commit(repo, "/".join(rest))
        body = self._body().decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body).get("paths", [])
        out = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                out.append(self._entry_json(path, commit.files[path], commit))
            elif any(p.startswith(path + "/") for p in commit.files):
                out.append(self._entry_json(path, None, commit))
        self._json(200, out)

    # -- uploads --------------------------------------------------------------------------------

    def _api_preupload(self, repo: Repo, rest: list[str], query: dict) -> None:
        if not self._authorised():
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = json.loads(self._body())
        commit = repo.resolve("/".join(rest))
        files = []
        for item in payload["files"]:
            lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] >= LFS_MIN_SIZE
            existing = commit.files.get(item["path"]) if commit else None
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.oid if existing else None,
                }
            )
        self._json(200, {"files": files, "commitOid": commit.oid if commit else None})

    def _lfs_batch(self, repo: Repo) -> None:
        self._fail_if_asked("lfs-batch")
        if not self._authorised():
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = json.loads(self._body())
        objects = []
        for item in payload["objects"]:
            entry: dict[str, Any] = {"oid": item["oid"], "size": item["size"]}
            with self.state.lock:
                stored = item["oid"] in self.state.lfs
            if not stored:
                entry["actions"] = {
                    "upload": {"href": f"{self.base}/__lfs/{item['oid']}"},
                    "verify": {"href": f"{self.base}/__lfs/verify"},
                }
            objects.append(entry)
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            "application/vnd.git-lfs+json",
        )

    def _lfs_object(self, rest: list[str]) -> None:
        body = self._body()
        if rest == ["verify"]:
            oid = json.loads(body)["oid"]
            with self.state.lock:
                known = oid in self.state.lfs
            if not known:
                raise HubError(404, f"LFS object {oid} not uploaded")
            return self._json(200, {})
        oid = rest[0]
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"LFS object {oid}: content does not match its SHA-256")
        with self.state.lock:
            self.state.lfs[oid] = body
        self._send(200, b"", headers={"ETag": f'"{oid}"'})

    def _api_commit(self, repo: Repo, rest: list[str], query: dict) -> None:
        if not self._authorised():
            raise HubError(401, "Invalid credentials in Authorization header")
        branch = "/".join(rest)
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        with self.state.lock:
            parent = self._commit(repo, branch)
            if branch not in repo.branches:
                raise HubError(400, f"{branch} is not a branch", "RevisionNotFound")
            files = dict(parent.files)
            message = "commit"
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    message = value.get("summary") or message
                    expected = value.get("parentCommit")
                    if expected and not parent.oid.startswith(expected):
                        raise HubError(412, "parent commit is not the branch head")
                elif key == "file":
                    data = base64.b64decode(value["content"])
                    files[value["path"]] = Entry(data, lfs=False)
                elif key == "lfsFile":
                    data = self.state.lfs.get(value["oid"])
                    if data is None:
                        raise HubError(400, f"LFS object {value['oid']} was never uploaded")
                    files[value["path"]] = Entry(data, lfs=True)
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise HubError(
                            404,
                            f"A file with this name doesn't exist: {value['path']}",
                            "EntryNotFound",
                        )
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: e for p, e in files.items() if not p.startswith(prefix)}
            commit = self.state.new_commit(repo, parent.oid, message, files)
            repo.branches[branch] = commit.oid
        prefix = "" if repo.repo_type == "models" else f"{repo.repo_type}/"
        url = f"{self.base}/{prefix}{repo.repo_id}/commit/{commit.oid}"
        self._json(200, {"commitUrl": url, "commitOid": commit.oid, "pullRequestUrl": None})

    def _validate_yaml(self) -> None:
        payload = json.loads(self._body() or b"{}")
        errors = _check_yaml(payload.get("content", ""))
        if errors:
            return self._json(400, {"errors": [{"message": e} for e in errors], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    # -- downloads ------------------------------------------------------------------------------

    def _resolve(self, repo: Repo, revision: str, path: str) -> None:
        commit = self._commit(repo, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry {path} not found", "EntryNotFound")
        data = entry.data
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{entry.sha256 if entry.lfs else entry.oid}"',
            "Accept-Ranges": "bytes",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(len(data))
        status = 200
        byte_range = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if byte_range and data:
            start_text, stop_text = byte_range.groups()
            if start_text:
                start = int(start_text)
                stop = min(int(stop_text), len(data) - 1) if stop_text else len(data) - 1
            else:
                start, stop = max(len(data) - int(stop_text), 0), len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{stop}/{len(data)}"
            data, status = data[start : stop + 1], 206
        self._send(status, data, "application/octet-stream", headers)


class FakeHubServer(ThreadingHTTPServer):
    """The HTTP server; ``state`` holds the repos."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = State()
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def start() -> FakeHubServer:
    """Start a fake Hub on a free port of 127.0.0.1, served by a daemon thread."""
    server = FakeHubServer()
    server.thread = threading.Thread(target=server.serve_forever, daemon=True, name="fakehub")
    server.thread.start()
    return server


if __name__ == "__main__":  # python tests/fakehub.py: serve until interrupted
    hub = start()
    print(hub.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        hub.stop()
