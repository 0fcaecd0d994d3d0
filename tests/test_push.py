"""deepbench push, end to end against tests/fakehub.py on 127.0.0.1 (no real Hub).

``huggingface_hub`` reads ``HF_ENDPOINT`` when it is imported, and this process has imported it
already, so every push and load runs in a subprocess with the fake Hub's endpoint, Xet disabled,
a fresh ``HF_HOME`` and a throwaway token.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import fakehub
import pyarrow as pa
import pytest
from conftest import SMALL, digests, read_split, same_rows, small_config

from deepbench_hf.kinds import features_for
from deepbench_hf.publish import PublishError, push

TOKEN = "hf_FakeTokenForTests0123456789"
CONFIGS = ("shapes-easy", "shapes-hard")


@pytest.fixture(scope="module")
def hub():
    server = fakehub.start()
    server.state.token = TOKEN
    yield server
    server.stop()


def hub_env(home: Path, endpoint: str, token: str = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_TOKEN=token,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def deepbench(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepbench_hf.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def remote_files(hub, repo_id: str, revision: str = "main") -> dict[str, bytes]:
    repo = hub.state.repos[("datasets", repo_id)]
    return {path: entry.data for path, entry in repo.resolve(revision).files.items()}


def local_files(folder: Path, configs=CONFIGS) -> dict[str, bytes]:
    files = {"README.md": (folder / "README.md").read_bytes()}
    for name in configs:
        for path in (folder / name).iterdir():
            files[f"{name}/{path.name}"] = path.read_bytes()
    return files


LOAD = textwrap.dedent(
    """
    import json, sys
    import datasets, pyarrow as pa
    repo, out, revision = sys.argv[1], sys.argv[2], sys.argv[3]
    features = {}
    for config in sys.argv[4:]:
        ds = datasets.load_dataset(repo, config, revision=revision, cache_dir=out + "/cache")
        for split, part in ds.items():
            table = part.data.table
            with pa.ipc.new_file(f"{out}/{config}.{split}.arrow", table.schema) as writer:
                writer.write_table(table)
            features[f"{config}.{split}"] = part.features.to_dict()
    json.dump(features, open(out + "/features.json", "w"))
    """
)


def test_push_then_load_dataset_gives_the_local_rows(built_dir, hub, tmp_path):
    before = digests(built_dir, "*")
    env = hub_env(tmp_path / "home-push", hub.url)
    result = deepbench(env, "push", str(built_dir), "org/deepbench", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pushed shapes-easy, shapes-hard to org/deepbench@main")
    assert TOKEN not in result.stdout + result.stderr
    assert digests(built_dir, "*") == before
    assert not any(TOKEN.encode() in data for data in local_files(built_dir).values())
    remote = remote_files(hub, "org/deepbench")
    assert {p: d for p, d in remote.items() if p != ".gitattributes"} == local_files(built_dir)
    repo = hub.state.repos[("datasets", "org/deepbench")]
    assert len(repo.commits) == 2  # the repo's initial commit, then exactly one push commit

    out = tmp_path / "loaded"
    out.mkdir()
    env = hub_env(tmp_path / "home-load", hub.url)
    load = subprocess.run(
        [sys.executable, "-c", LOAD, "org/deepbench", str(out), "main", *CONFIGS],
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert load.returncode == 0, load.stderr[-3000:]
    features = json.loads((out / "features.json").read_text())
    for config in CONFIGS:
        expected = features_for(small_config(config))
        for split in SMALL:
            assert datasets.Features.from_dict(features[f"{config}.{split}"]) == expected
            with pa.ipc.open_file(out / f"{config}.{split}.arrow") as reader:
                loaded = reader.read_all()
            assert loaded.num_rows == SMALL[split]
            assert same_rows(read_split(built_dir / config, split), loaded)
    requested = {path for _, path, _ in hub.state.log}
    assert not any(path.endswith(".py") and "resolve/main" in path for path in requested)


def test_push_some_configs_to_a_private_branch_and_delete_stale_shards(built_dir, hub, tmp_path):
    env = hub_env(tmp_path / "home", hub.url)
    args = ["push", str(built_dir), "org/partial", "--config", "shapes-hard"]
    args += ["--revision", "dev", "--private"]
    first = deepbench(env, *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    repo = hub.state.repos[("datasets", "org/partial")]
    assert repo.private and set(repo.branches) == {"main", "dev"}
    assert set(remote_files(hub, "org/partial", "main")) == {".gitattributes"}
    dev = remote_files(hub, "org/partial", "dev")
    assert {p: d for p, d in dev.items() if p != ".gitattributes"} == local_files(
        built_dir, ["shapes-hard"]
    )
    # An older build left a shard the local folder no longer has, and someone added notes.
    with hub.state.lock:
        head = repo.resolve("dev")
        files = dict(head.files)
        files["shapes-hard/train-00000-of-00009.parquet"] = fakehub.Entry(b"old", lfs=True)
        files["notes/keep.txt"] = fakehub.Entry(b"keep me", lfs=False)
        commit = hub.state.new_commit(repo, head.oid, "older build", files)
        repo.branches["dev"] = commit.oid
    count = len(repo.commits)
    second = deepbench(env, *args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "deleted 1 stale file(s)" in second.stdout
    dev = remote_files(hub, "org/partial", "dev")
    assert "shapes-hard/train-00000-of-00009.parquet" not in dev
    assert dev["notes/keep.txt"] == b"keep me"
    assert len(repo.commits) == count + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("failure", ["server-error", "unreachable", "bad-token", "silent"])
def test_failed_push_is_one_line_and_leaves_the_folder_intact(built_dir, hub, tmp_path, failure):
    folder = tmp_path / "deepbench"
    shutil.copytree(built_dir, folder)
    before = digests(folder, "*")
    endpoint, token, extra = hub.url, TOKEN, []
    if failure == "unreachable":
        endpoint = f"http://127.0.0.1:{_free_port()}"
    silent = socket.socket()  # the kernel completes its connections; nobody ever answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    if failure == "silent":
        endpoint, extra = f"http://127.0.0.1:{silent.getsockname()[1]}", ["--timeout", "1"]
    if failure == "bad-token":
        token = "hf_WrongTokenForTests987654321"
    repo_id = f"org/fail-{failure}"
    if failure == "server-error":
        hub.state.fail[("POST", "commit")] = 500
    try:
        result = deepbench(hub_env(tmp_path / "home", endpoint, token), "push", str(folder),
                           repo_id, *extra, cwd=tmp_path)  # fmt: skip
    finally:
        hub.state.fail.clear()
        silent.close()
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"deepbench: error: push to {repo_id} failed (")
    assert f"the local folder {folder} is unchanged" in lines[0]
    assert "rerun the same command" in lines[0]
    assert TOKEN not in result.stderr and token not in result.stderr
    assert digests(folder, "*") == before
    hint = {
        "server-error": "500",
        "unreachable": "check the network and HF_ENDPOINT",
        "bad-token": "check the token",
        "silent": "the Hub did not answer in time",
    }[failure]
    assert hint in lines[0]
    repo = hub.state.repos.get(("datasets", repo_id))
    assert repo is None or set(repo.resolve("main").files) == {".gitattributes"}


def test_inconsistent_folder_is_refused_before_any_upload(built_dir, tmp_path):
    folder = tmp_path / "deepbench"
    shutil.copytree(built_dir, folder)
    (folder / "shapes-easy" / "test-00000-of-00001.parquet").write_bytes(b"broken")
    with pytest.raises(PublishError, match="nothing was pushed"):
        push(folder, "org/never")
    with pytest.raises(PublishError, match="--config shapes-nope: not in"):
        push(folder, "org/never", configs=["shapes-nope"])


def test_an_invalid_repo_id_is_named_before_any_upload(built_dir):
    with pytest.raises(PublishError, match="repo id 'bad id!': Repo id must use alphanumeric"):
        push(built_dir, "bad id!")
