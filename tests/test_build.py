"""End to end: build into the Hub layout, load it back exactly, bit-identical for any num_proc."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import SMALL, digests, read_split, same_rows, small_config

from deepbench_hf import BuildError, regenerate_row
from deepbench_hf.config import builtin_config_names
from deepbench_hf.kinds import features_for
from deepbench_hf.writer import build_config, staging_root


def test_hub_layout(built_dir):
    names = sorted(p.name for p in (built_dir / "shapes-easy").iterdir())
    assert names == [
        "deepbench.json",
        "preview.png",
        "test-00000-of-00001.parquet",
        "train-00000-of-00003.parquet",
        "train-00001-of-00003.parquet",
        "train-00002-of-00003.parquet",
        "validation-00000-of-00001.parquet",
    ]
    card = (built_dir / "README.md").read_text()
    assert "config_name: shapes-easy" in card and "config_name: shapes-hard" in card
    assert not staging_root(built_dir).exists()


@pytest.mark.parametrize("name", ["shapes-easy", "shapes-hard"])
def test_load_dataset_returns_exact_features_and_rows(built_dir, monkeypatch, name):
    monkeypatch.chdir(built_dir.parent)
    config = small_config(name)
    ds = datasets.load_dataset(built_dir.name, name, cache_dir=str(built_dir.parent / "cache"))
    expected = features_for(config)
    assert set(ds) == set(SMALL)
    for split, n in SMALL.items():
        assert ds[split].features == expected
        assert list(ds[split].features) == list(expected)
        assert ds[split].num_rows == n
        # every row and column, as the shards hold them
        assert same_rows(ds[split].data.table, read_split(built_dir / name, split))
    assert isinstance(expected["image"], datasets.Array2D)
    assert isinstance(ds["train"].features["label"], datasets.ClassLabel)
    schema = ds["validation"].data.table.schema
    for column in ("image", "image_clean", "segmentation"):
        assert schema.field(column).type.value_type == expected[column].dtype
    rows = ds["validation"].with_format("numpy")
    for index in (0, 5, 11):
        fresh = regenerate_row(config, "validation", index)
        stored = rows[index]
        for column in ("image", "image_clean", "segmentation"):
            np.testing.assert_array_equal(stored[column], fresh[column])
        assert stored["seed"] == fresh["seed"] and stored["label"] == fresh["label"]
        for got, want in zip(stored["objects"], fresh["objects"], strict=True):
            for key, value in want.items():
                np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value))


def _same_value(a, b) -> bool:
    """Deep equality of Python row values, NaN equal to NaN, floats compared exactly."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and a == b


def test_streaming_yields_the_same_rows(built_dir, monkeypatch):
    """``load_dataset(..., streaming=True)`` reads the folder with the declared features and
    yields exactly the rows of the prepared dataset, in order."""
    monkeypatch.chdir(built_dir.parent)
    cache = str(built_dir.parent / "cache")
    prepared = datasets.load_dataset(built_dir.name, "shapes-hard", cache_dir=cache)
    streamed = datasets.load_dataset(built_dir.name, "shapes-hard", streaming=True)
    assert set(streamed) == set(SMALL)
    for split in SMALL:
        assert streamed[split].features == prepared[split].features
        rows = list(streamed[split])
        assert len(rows) == prepared[split].num_rows
        for i in (0, len(rows) // 2, len(rows) - 1):
            assert _same_value(rows[i], prepared[split][i]), (split, i)
        assert not _same_value(rows[0], prepared[split][1])


def test_num_proc_and_repeat_builds_are_bit_identical(tmp_path, built_dir):
    config = small_config("shapes-hard")
    one, two = tmp_path / "one" / "ds", tmp_path / "two" / "ds"
    build_config(config, one, num_proc=1, progress=False)
    build_config(config, two, num_proc=2, progress=False)
    reference = {k: v for k, v in digests(built_dir).items() if k.startswith("shapes-hard/")}
    assert digests(one) == digests(two) == reference
    assert (one / "README.md").read_text() == (two / "README.md").read_text()


def test_shards_are_independent_of_shard_size(tmp_path):
    a = small_config("shapes-medium", shard_size=7)
    b = small_config("shapes-medium", shard_size=1000)
    build_config(a, tmp_path / "a", progress=False)
    build_config(b, tmp_path / "b", progress=False)
    table_a = read_split(tmp_path / "a" / "shapes-medium", "train")
    table_b = read_split(tmp_path / "b" / "shapes-medium", "train")
    assert same_rows(table_a, table_b)


def test_builder_matches_parquet_for_num_proc_1_and_2(tmp_path, built_dir):
    from deepbench_hf import DeepBench

    config = small_config("shapes-easy")
    tables = []
    for num_proc in (1, 2):
        builder = DeepBench.from_build_config(config, cache_dir=str(tmp_path / f"c{num_proc}"))
        builder.download_and_prepare(num_proc=num_proc)
        ds = builder.as_dataset(split="train")
        assert ds.features == features_for(config)
        tables.append(ds.data.table)
    assert same_rows(tables[0], tables[1])
    parquet = read_split(built_dir / "shapes-easy", "train")
    assert same_rows(tables[0], parquet)


def test_builder_exposes_every_named_config():
    from deepbench_hf import DeepBench, builtin_config_names

    assert sorted(c.name for c in DeepBench.BUILDER_CONFIGS) == builtin_config_names()


def test_easy_labels_are_exactly_balanced(built_dir):
    table = read_split(built_dir / "shapes-easy", "train")
    labels = np.array(table["label"])
    kinds = [objs[0]["kind"] for objs in table["objects"].to_pylist()]
    for block in range(len(labels) // 6):
        assert sorted(labels[6 * block : 6 * block + 6]) == list(range(6))
    names = features_for(small_config("shapes-easy"))["label"].names
    assert [names[i] for i in labels] == kinds


def test_noise_only_changes_do_not_change_scenes(tmp_path):
    noisy = small_config("shapes-hard")
    clean = small_config("shapes-hard", "noise=none")
    a = regenerate_row(noisy, "train", 3)
    b = regenerate_row(clean, "train", 3)
    np.testing.assert_array_equal(a["image_clean"], b["image_clean"])
    assert a["noise_sigma"] > 0 and b["noise_sigma"] == 0
    np.testing.assert_array_equal(b["image"], b["image_clean"].astype(np.float32))
    residual = a["image"] - a["image_clean"]
    assert abs(residual.std() - a["noise_sigma"]) < 0.05 * a["noise_sigma"]


def test_second_build_adds_and_rebuild_replaces(tmp_path):
    out = tmp_path / "ds"
    build_config(small_config("shapes-easy"), out, progress=False)
    build_config(small_config("shapes-medium"), out, progress=False)
    card = (out / "README.md").read_text()
    assert "config_name: shapes-easy" in card and "config_name: shapes-medium" in card
    build_config(small_config("shapes-easy", shard_size=64), out, progress=False)
    assert sorted(p.name for p in (out / "shapes-easy").glob("train-*")) == [
        "train-00000-of-00001.parquet"
    ]


def test_failed_build_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "ds"
    build_config(small_config("shapes-easy"), out, progress=False)
    before = digests(out)
    card_before = (out / "README.md").read_text()

    import deepbench_hf.shapes.kind as shapes_kind

    calls = {"n": 0}
    original = shapes_kind.render_scene

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 30:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)

    monkeypatch.setattr(shapes_kind, "render_scene", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_config(small_config("shapes-easy", "seed=9"), out, progress=False)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_config(small_config("shapes-hard"), tmp_path / "fresh", progress=False)
    assert digests(out) == before
    assert (out / "README.md").read_text() == card_before
    assert not (tmp_path / "fresh").exists()
    assert not staging_root(out).exists() and not staging_root(tmp_path / "fresh").exists()


@pytest.mark.parametrize("failing_step", ["card", "move in", "card rename"])
def test_failure_while_moving_into_place_restores_the_previous_build(
    tmp_path, monkeypatch, failing_step
):
    from fsspec.implementations.local import LocalFileSystem

    out = tmp_path / "ds"
    build_config(small_config("shapes-easy"), out, progress=False)
    before = digests(out)
    card_before = (out / "README.md").read_text()
    mv, pipe_file = LocalFileSystem.mv, LocalFileSystem.pipe_file

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    def failing_mv(self, path1, path2, **kwargs):
        moving_stage = str(path1).endswith("staging/shapes-easy")
        if (failing_step == "move in" and moving_stage) or (
            failing_step == "card rename" and str(path2).endswith("README.md")
        ):
            if moving_stage:  # part of the folder gets there first
                (out / "shapes-easy").mkdir()
                (out / "shapes-easy" / "deepbench.json").write_text("{}")
            full_disk()
        return mv(self, path1, path2, **kwargs)

    def failing_pipe(self, path, value, **kwargs):
        if failing_step == "card" and str(path).endswith(".README.md.partial"):
            Path(path).write_bytes(value[:100])  # the disk fills up part way
            full_disk()
        return pipe_file(self, path, value, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "mv", failing_mv)
    monkeypatch.setattr(LocalFileSystem, "pipe_file", failing_pipe)
    with pytest.raises(BuildError, match=r"shapes-easy: writing .*ds failed: No space left"):
        build_config(small_config("shapes-easy", "seed=9"), out, progress=False)
    assert digests(out) == before
    assert (out / "README.md").read_text() == card_before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "shapes-easy"]
    assert not staging_root(out).exists()


def test_unwritable_and_foreign_outputs_are_refused(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not empty and was not written by deepbench build"):
        build_config(small_config("shapes-easy"), foreign, progress=False)
    project = tmp_path / "project"  # a user's folder with its own README.md
    project.mkdir()
    (project / "README.md").write_text("# my project")
    (project / "code.py").write_text("print(1)")
    with pytest.raises(BuildError, match="not empty and was not written by deepbench build"):
        build_config(small_config("shapes-easy"), project, progress=False)
    assert (project / "README.md").read_text() == "# my project"
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "code.py"]
    with pytest.raises(BuildError, match="--out nosuchprotocol://bucket/ds: Protocol not known"):
        build_config(small_config("shapes-easy"), "nosuchprotocol://bucket/ds", progress=False)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(BuildError, match="exists and is not a folder"):
        build_config(small_config("shapes-easy"), a_file, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine" and sorted(foreign.iterdir()) == [
        foreign / "notes.txt"
    ]


def test_killed_build_resumes_from_complete_shards(tmp_path):
    config = small_config("shapes-hard")
    out = tmp_path / "ds"
    stage = staging_root(out) / config.name
    stage.mkdir(parents=True)
    from deepbench_hf.writer import plan_shards, write_shard

    first = plan_shards(config)[0]
    kept = write_shard(config, first, stage)
    (stage / "train-00001-of-00003.parquet.partial").write_bytes(b"torn")
    mtime = (stage / first.filename).stat().st_mtime_ns
    build_config(config, out, progress=False)
    assert not list(out.rglob("*.partial")) and not staging_root(out).exists()
    reference = tmp_path / "ref"
    build_config(config, reference, progress=False)
    assert digests(out) == digests(reference)
    assert (out / config.name / first.filename).stat().st_mtime_ns == mtime
    assert kept.sha256 == digests(out)[f"{config.name}/{first.filename}"]


def test_regenerate_row_refuses_unknown_splits_and_indices_out_of_range():
    with pytest.raises(ValueError, match="split must be one of train, validation, test"):
        regenerate_row("shapes-easy", "nosuch", 0)
    for index in (-1, 2.0, True):
        with pytest.raises(IndexError, match=r"index must be an integer >= 0"):
            regenerate_row("shapes-easy", "train", index)
    # beyond the config's own split size: the row a build with a larger split writes
    assert regenerate_row("shapes-easy", "train", 6001)["index"] == 6001


@pytest.mark.parametrize("name", builtin_config_names())
def test_shard_sizes_are_the_same_in_memory_and_read_back(name):
    """A resumed build reads its finished shards back: their num_bytes must be a fresh one's."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.parquet as pq

    from deepbench_hf.arrow import table_num_bytes
    from deepbench_hf.writer import plan_shards, shard_bytes

    config = small_config(name)
    shard = plan_shards(config)[0]
    shard = dataclasses.replace(shard, stop=shard.start + min(3, shard.stop - shard.start))
    data, num_bytes = shard_bytes(config, shard)
    assert num_bytes == table_num_bytes(pq.ParquetFile(pa.BufferReader(data)).read())


def test_a_symlinked_out_is_staged_beside_the_real_folder(tmp_path, monkeypatch):
    """--out a symlink to a folder elsewhere (maybe another filesystem): the staging folder goes
    beside the real folder, so that moving the built config in stays a rename; the link stays."""
    import shutil

    from deepbench_hf import writer

    real = tmp_path / "disk" / "ds"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    stages = []
    finish = writer._finish
    monkeypatch.setattr(
        writer,
        "_finish",
        lambda fs, out, stage, *a: stages.append(stage) or finish(fs, out, stage, *a),
    )
    build_config(small_config("shapes-easy"), link, progress=False)
    assert stages == [f"{staging_root(real)}/shapes-easy"]
    assert link.is_symlink() and (real / "shapes-easy" / "deepbench.json").is_file()
    assert "benchmarks: `link`" in (real / "README.md").read_text()  # the name as given
    # a real folder whose parent cannot be written: staged beside the link, as before
    monkeypatch.setattr(writer.os, "access", lambda path, mode: str(path) != str(real.parent))
    assert writer._staging_side(str(link)) == str(link)
    monkeypatch.undo()
    assert writer._staging_side(str(link)) == str(real)
    assert writer._staging_side(str(real)) == str(real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "link"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["ds"]
    # a copy across filesystems that fails says why in one line, not as a list of tuples
    error = shutil.Error([("a/x", "b/x", "[Errno 28] No space left on device"), ("a/y", "b/y", "")])
    assert writer._reason(error) == (
        "[Errno 28] No space left on device (copying a/x and 1 more files)"
    )


def test_a_second_build_of_a_config_into_one_folder_is_refused_while_the_first_runs(tmp_path):
    """Two builds of one config into one folder would share, and delete, one staging folder: the
    second is refused in one line, and the first's stage is left alone."""
    import fcntl
    import os

    out = tmp_path / "ds"
    stage = staging_root(out) / "shapes-easy"
    stage.mkdir(parents=True)
    (stage / "train-00000-of-00004.parquet").write_bytes(b"the first build's shard")
    fd = os.open(stage, os.O_RDONLY)  # the first build holds its stage
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(
            BuildError, match=rf"--out {out}: another build of shapes-easy is writing there"
        ):
            build_config(small_config("shapes-easy"), out, progress=False)
        assert [p.name for p in stage.iterdir()] == ["train-00000-of-00004.parquet"]
    finally:
        os.close(fd)
    build_config(small_config("shapes-easy"), out, progress=False)  # once it is done
    assert not staging_root(out).exists()


def test_card_updates_wait_for_each_other(tmp_path):
    """Builds of different configs into one folder rewrite its card one at a time."""
    import fcntl
    import os
    import threading

    import fsspec

    from deepbench_hf.writer import _folder_locked

    fs = fsspec.filesystem("file")
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another build is writing the card
    entered = threading.Event()

    def finish() -> None:
        with _folder_locked(fs, str(tmp_path)):
            entered.set()

    thread = threading.Thread(target=finish)
    thread.start()
    assert not entered.wait(0.5)
    os.close(fd)
    assert entered.wait(10)
    thread.join()


def test_an_unwritable_folder_says_whether_its_file_system_is_read_only(tmp_path, monkeypatch):
    import os
    import types

    from deepbench_hf import writer

    assert writer._unwritable(tmp_path) == "permission denied"
    if hasattr(os, "ST_RDONLY"):
        flags = types.SimpleNamespace(f_flag=os.ST_RDONLY)
        monkeypatch.setattr(os, "statvfs", lambda path: flags)
        assert writer._unwritable(tmp_path) == "read-only file system"


def test_a_file_system_without_locks_still_builds(tmp_path, monkeypatch):
    """Some NFS, FUSE or CIFS mounts refuse flock (ENOLCK): the build goes on unguarded."""
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "nfs"
    build_config(small_config("shapes-easy"), out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nfs"]
    assert (out / "shapes-easy" / "deepbench.json").is_file()
