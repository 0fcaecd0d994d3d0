"""Scale: Dask-distributed builds, fsspec outputs, resuming a killed build, collections."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import digests, small_config

from deepbench_hf.cli import main
from deepbench_hf.errors import BuildError
from deepbench_hf.verify import read_card_yaml
from deepbench_hf.writer import build_config, staging_root


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ds"
    build_config(small_config("shapes-hard"), out, progress=False)
    return out


def test_dask_local_cluster_build_is_bit_identical(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = tmp_path / "ds"
        build_config(small_config("shapes-hard"), out, client=client, progress=False)
    assert digests(out, "*") == digests(reference, "*")


def test_fsspec_url_output_is_bit_identical(reference):
    import fsspec

    url = "memory://bucket/ds"
    build_config(small_config("shapes-hard"), url, num_proc=1, progress=False)
    fs = fsspec.filesystem("memory")
    files = {
        p.removeprefix("/bucket/ds/"): hashlib.sha256(fs.cat_file(p)).hexdigest()
        for p in fs.find("/bucket/ds")
    }
    assert files == digests(reference, "*")
    assert not fs.exists("/bucket/.ds.deepbench-staging")
    refused = r"^--out memory://bucket/ds2: shards would be written by other processes"
    with pytest.raises(BuildError, match=refused):
        build_config(small_config("shapes-hard"), "memory://bucket/ds2", num_proc=2)
    assert not fs.exists("/bucket/ds2") and not fs.exists("/bucket/.ds2.deepbench-staging")


def test_killed_build_resumes_and_matches_an_uninterrupted_one(tmp_path):
    out = tmp_path / "ds"
    args = [
        sys.executable,
        "-m",
        "deepbench_hf.cli",
        "build",
        "shapes-hard",
        "--out",
        str(out),
        "--split-sizes",
        "train=400,validation=0,test=0",
        "--shard-size",
        "20",
        "--no-progress",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stage = staging_root(out) / "shapes-hard"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list(stage.glob("*.parquet")) if stage.is_dir() else []
        if len(done) >= 4:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    survivors = {p.name: p.stat().st_mtime_ns for p in stage.glob("*.parquet")}
    assert 4 <= len(survivors) < 20, "the build should have been killed part-way"
    assert not out.exists()

    subprocess.run(args, check=True, capture_output=True)
    for name, mtime in survivors.items():
        assert (out / "shapes-hard" / name).stat().st_mtime_ns == mtime  # reused, not rewritten
    assert not staging_root(out).exists()

    reference = tmp_path / "ref" / "ds"
    subprocess.run([*args[:6], str(reference), *args[7:]], check=True, capture_output=True)
    ours, theirs = digests(out, "*"), digests(reference, "*")
    parquet = {k: v for k, v in ours.items() if k.endswith(".parquet")}
    assert parquet == {k: v for k, v in theirs.items() if k.endswith(".parquet")}
    record = json.loads((out / "shapes-hard" / "deepbench.json").read_text())
    assert record["splits"]["train"]["num_examples"] == 400
    # reused shards report the sizes fresh ones do: the same record and dataset_info
    uninterrupted = json.loads((reference / "shapes-hard" / "deepbench.json").read_text())
    assert record["splits"] == uninterrupted["splits"]
    info = [read_card_yaml(folder / "README.md")["dataset_info"] for folder in (out, reference)]
    assert info[0] == info[1]


def test_suite_and_all_build_collections(tmp_path, capsys):
    code = main(
        [
            "build",
            "--suite",
            "paper",
            "--out",
            str(tmp_path / "ds"),
            "--num-examples",
            "12",
            "--no-progress",
        ]
    )
    assert code == 0
    card = (tmp_path / "ds" / "README.md").read_text()
    from deepbench_hf.config import builtin_suites

    for name in builtin_suites()["paper"]["configs"]:
        assert f"config_name: {name}" in card
    assert main(["build", "--out", str(tmp_path / "x")]) == 2
    assert "name at least one CONFIG" in capsys.readouterr().err
