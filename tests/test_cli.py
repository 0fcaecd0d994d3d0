"""The deepbench command line: help, list, show, build, and one-line errors with non-zero exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from deepbench_hf.cli import main


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepbench_hf.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_help_is_complete():
    out = run("--help").stdout
    for word in ("build", "list", "show", "examples:"):
        assert word in out
    build_help = run("build", "--help").stdout
    for flag in (
        "--out",
        "--split-sizes",
        "--num-examples",
        "--seed",
        "--num-proc",
        "--set",
        "--shard-size",
        "--no-progress",
    ):
        assert flag in build_help


def test_list_prints_every_config_with_a_description(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert {"shapes-easy", "shapes-medium", "shapes-hard"} <= set(names)
    assert all(len(line.split()) > 3 for line in lines)


def test_show_prints_resolved_yaml(capsys):
    assert main(["show", "shapes-hard", "--set", "objects.count=3", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# shapes-hard: config hash ")
    assert "seed: 4" in out and "count: 3" in out


def test_build_then_load(tmp_path, capsys):
    code = main(
        [
            "build",
            "shapes-hard",
            "--out",
            str(tmp_path / "deepbench"),
            "--split-sizes",
            "train=10,validation=4,test=0",
            "--no-progress",
            "--set",
            "noise=none",
            "--num-proc",
            "2",
        ]
    )
    assert code == 0
    assert "built shapes-hard" in capsys.readouterr().out
    ds = datasets.load_dataset(
        str(tmp_path / "deepbench"), "shapes-hard", cache_dir=str(tmp_path / "cache")
    )
    assert set(ds) == {"train", "validation"}
    assert ds["train"].num_rows == 10
    assert all(s == 0 for s in ds["train"]["noise_sigma"])
    card = (tmp_path / "deepbench" / "README.md").read_text()
    assert "deepbench build shapes-hard --out" in card  # how to regenerate


def test_num_examples_keeps_split_proportions(tmp_path):
    assert (
        main(
            [
                "build",
                "shapes-easy",
                "--out",
                str(tmp_path / "d"),
                "--num-examples",
                "70",
                "--no-progress",
            ]
        )
        == 0
    )
    files = {p.name.split("-")[0] for p in (tmp_path / "d" / "shapes-easy").glob("*.parquet")}
    assert files == {"train", "validation", "test"}
    import json

    record = json.loads((tmp_path / "d" / "shapes-easy" / "deepbench.json").read_text())
    sizes = {k: v["num_examples"] for k, v in record["splits"].items()}
    assert sizes == {"train": 50, "validation": 10, "test": 10}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "nope", "--out", "OUT"], "nope: unknown config; available:"),
        (
            ["build", "shapes-easy", "--out", "OUT", "--set", "objects.count=-1"],
            "--set: objects.count: expected an integer in [0, 10000]",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--set", "image_size=-8"],
            "--set: image_size.height: expected an integer in [1, 8192], got -8",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--split-sizes", "train=-5"],
            "train: must be >= 0, got -5",
        ),
        (["build", "shapes-easy", "--out", "OUT", "--split-sizes", "dev=5"], "expected train=N"),
        (
            ["build", "shapes-easy", "--out", "OUT", "--scheduler", "garbage"],
            "--scheduler garbage: not a scheduler address such as tcp://HOST:8786",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--split-sizes", "train=5,train=6"],
            "train: given twice",
        ),
        (["build", "shapes-easy", "--out", "OUT", "--num-proc", "0"], "must be >= 1, got 0"),
        (["build", "shapes-easy", "--out", "OUT", "--num-proc", "-1"], "must be >= 1, got -1"),
        (["build", "shapes-easy", "--out", "OUT", "--num-examples", "0"], "must be >= 1, got 0"),
        (
            ["build", "shapes-easy", "--out", "OUT", "--num-examples", "2000000000"],
            "--num-examples 2000000000: splits.train: expected an integer in [0, 1e+09]",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--set", "image_size=64.0"],
            "image_size: expected an integer (a square) or height, width; got 64.0",
        ),
        (
            ["build", "shapes-easy", "--all", "--out", "OUT"],
            "argument --all: not allowed with argument CONFIG",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--num-proc", "1", "--scheduler", "x:1"],
            "argument --scheduler: not allowed with argument --num-proc",
        ),
        (
            ["build", "shapes-easy", "--out", "OUT", "--seed", "9223372036854775808"],
            "--seed: seed: expected an integer in [0, 9223372036854775807]",
        ),
        (["push", "OUT", "org/x", "--timeout", "0"], "--timeout: must be a finite number > 0"),
        (["query", "OUT", ""], "argument SQL: must not be empty"),
        (["query", "OUT", "SELECT 1", "--max-rows", "-1"], "--max-rows: must be >= 0, got -1"),
        (
            [
                "build",
                "shapes-easy",
                "--out",
                "OUT",
                "--split-sizes",
                "train=0,test=0,validation=0",
            ],
            "splits: at least one split needs examples",
        ),
        (["build", "shapes-easy", "--out", "zz://b/x"], "--out zz://b/x: Protocol not known"),
        (["build", "shapes-easy"], "the following arguments are required: --out"),
        (["build", "shapes-easy", "--out", ""], "argument --out: must not be empty"),
        (
            ["build", "shapes-easy", "--out", "/proc/deepbench-no"],
            "--out /proc/deepbench-no: cannot write there",
        ),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    result = run(*args, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_config_names_that_would_collide_are_refused_before_building(tmp_path):
    (tmp_path / "card.yaml").write_text("extends: shapes-easy\nname: README.md\n")
    (tmp_path / "dot.yaml").write_text("extends: shapes-easy\nname: shapes.easy\n")
    (tmp_path / "same.yaml").write_text("extends: shapes-easy\nname: shapes-easy\n")
    sizes = ["--split-sizes", "train=4,validation=0,test=0", "--no-progress"]
    result = run("build", "shapes-easy", "same.yaml", "--out", "d", *sizes, cwd=tmp_path)
    assert result.returncode == 2 and "'shapes-easy' is given twice" in result.stderr
    result = run("build", "card.yaml", "--out", "d", *sizes, cwd=tmp_path)
    assert result.returncode == 2 and "not README.md, the dataset card" in result.stderr
    result = run("build", "dot.yaml", "shapes-easy", "--out", "d", *sizes, cwd=tmp_path)
    assert result.returncode == 2 and "would share the query view 'shapes_easy'" in result.stderr
    assert not (tmp_path / "d").exists()
    assert run("build", "shapes-easy", "--out", "d", *sizes, cwd=tmp_path).returncode == 0
    result = run("build", "dot.yaml", "--out", "d", *sizes, cwd=tmp_path)  # against the folder
    assert result.returncode == 2 and "'shapes-easy' and 'shapes.easy'" in result.stderr
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["README.md", "shapes-easy"]


@pytest.mark.parametrize("damage", ["{bad json", "{}", "[]", ""])
def test_a_damaged_build_record_is_one_line_everywhere(tmp_path, damage):
    sizes = ["--split-sizes", "train=4,validation=0,test=0", "--no-progress"]
    assert run("build", "shapes-easy", "--out", "d", *sizes, cwd=tmp_path).returncode == 0
    record = tmp_path / "d" / "shapes-easy" / "deepbench.json"
    record.write_text(damage)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "d").rglob("*"))
    for args in (
        ("build", "shapes-medium", "--out", "d", *sizes),  # fails before generating anything
        ("query", "d", "SELECT 1"),
        ("export", "d", "shapes-easy", "--format", "npz", "--out", "x"),
        ("verify", "d"),
    ):
        result = run(*args, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1, (args, result.stderr)
        assert f"{record.relative_to(tmp_path)}: damaged build record (" in lines[0], lines
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "d").rglob("*")) == before
    assert not (tmp_path / "x").exists()
    # rebuilding the damaged config itself mends it
    assert run("build", "shapes-easy", "--out", "d", *sizes, cwd=tmp_path).returncode == 0
    assert run("verify", "d", cwd=tmp_path).returncode == 0


def test_missing_or_truncated_shards_are_one_line_in_query_and_export(tmp_path):
    sizes = ["--split-sizes", "train=4,validation=0,test=0", "--no-progress"]
    assert run("build", "shapes-easy", "--out", "d", *sizes, cwd=tmp_path).returncode == 0
    (shard,) = (tmp_path / "d" / "shapes-easy").glob("train-*.parquet")
    shard.write_bytes(shard.read_bytes()[:500])
    for reason in ("(Could not open Parquet", "missing"):
        for args in (
            ("query", "d", "SELECT count(*) FROM shapes_easy"),
            ("export", "d", "shapes-easy", "--format", "npz", "--out", "x"),
        ):
            result = run(*args, cwd=tmp_path)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
            assert "train-00000-of-00001.parquet" in lines[0]
            assert reason in lines[0] or args[0] == "query", lines
        shard.unlink(missing_ok=True)
    assert not (tmp_path / "x").exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``deepbench show sky-easy | head -1``: once the reader has gone, exit without a message."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "deepbench_hf.cli", "show", "sky-easy"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141 and result.stderr == ""


def test_an_interrupt_names_what_was_built_and_what_is_unchanged(tmp_path, capsys, monkeypatch):
    import deepbench_hf.writer as writer

    real = writer.build_config

    def interrupted_second(config, *args, **kwargs):
        if config.name == "shapes-medium":
            raise KeyboardInterrupt
        return real(config, *args, **kwargs)

    monkeypatch.setattr(writer, "build_config", interrupted_second)
    out = tmp_path / "ds"
    code = main(
        ["build", "shapes-easy", "shapes-medium", "--out", str(out), "--num-examples", "12"]
    )
    assert code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"deepbench: interrupted; {out}/shapes-medium was not created; built before it: "
        "shapes-easy (finished shards wait in the staging folder beside it: the same command "
        "resumes)"
    ]
    assert (out / "shapes-easy").is_dir() and not (out / "shapes-medium").exists()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_sigterm_stops_the_workers_like_an_interrupt(tmp_path):
    command = [sys.executable, "-m", "deepbench_hf.cli", "build", "sky-hard", "--out", "d"]
    proc = subprocess.Popen(
        [*command, "--num-proc", "2", "--no-progress"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline:  # both pool workers started
        time.sleep(0.2)
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            children |= {int(c) for c in (task / "children").read_text().split()}
    assert len(children) >= 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().startswith("deepbench: terminated; d/sky-hard was not created")
    deadline = time.monotonic() + 15  # the resource tracker exits once it sees EOF
    while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)]
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_of_a_killed_build_do_not_outlive_it(tmp_path):
    """SIGKILL gives the parent no chance to stop its pool workers: they die with it instead of
    waiting for work forever."""
    command = [sys.executable, "-m", "deepbench_hf.cli", "build", "sky-hard", "--out", "d"]
    proc = subprocess.Popen([*command, "--num-proc", "2", "--no-progress"], cwd=tmp_path)
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            children |= {int(c) for c in (task / "children").read_text().split()}
    assert len(children) >= 2
    time.sleep(1.0)  # the workers have run their initializer
    proc.kill()
    proc.wait(timeout=60)
    deadline = time.monotonic() + 15
    while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_unwritable_places_are_refused_before_building(tmp_path, capsys, monkeypatch):
    import deepbench_hf.writer as writer

    sizes = ["--split-sizes", "train=4,validation=0,test=0", "--no-progress"]
    out = tmp_path / "d"
    assert main(["build", "shapes-easy", "--out", str(out), *sizes]) == 0
    capsys.readouterr()
    real_access = os.access
    for denied, message in [
        (tmp_path, f"cannot create the staging folder beside it ({tmp_path}: permission denied)"),
        (out, f"cannot write {out} (permission denied)"),
        (out / "shapes-easy", f"cannot write {out / 'shapes-easy'} (permission denied)"),
    ]:
        monkeypatch.setattr(
            writer.os, "access", lambda p, mode, d=denied: Path(p) != d and real_access(p, mode)
        )
        assert main(["build", "shapes-easy", "--out", str(out), *sizes]) == 2
        assert capsys.readouterr().err.strip().endswith(message)
    monkeypatch.setattr(writer.os, "access", real_access)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no staging folder left
    # "d/shapes-easy/.." is the folder d itself
    assert main(["build", "shapes-medium", "--out", f"{out}/shapes-easy/..", *sizes]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "shapes-easy", "shapes-medium"]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("verify", "deepbench: interrupted"),
        ("export", "deepbench: interrupted; the export folder is unchanged"),
    ],
)
def test_an_interrupted_command_says_what_it_left(monkeypatch, capsys, tmp_path, command, said):
    import importlib

    from deepbench_hf.cli import COMMAND_MODULES

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(COMMAND_MODULES[command]), "run", interrupted)
    argv = {
        "verify": ["verify", str(tmp_path)],
        "export": ["export", str(tmp_path), "c", "--format", "npy", "--out", str(tmp_path / "o")],
    }[command]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip().splitlines() == [said]


def test_a_set_that_one_of_several_configs_rejects_names_that_config(tmp_path, capsys):
    argv = ["build", "nbody", "shapes-easy", "--set", "softening=0", "--out", str(tmp_path / "d")]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("deepbench: error: shapes-easy: --set: softening: unknown key")
    assert not (tmp_path / "d").exists()
