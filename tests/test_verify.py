"""deepbench verify: checksums against the build records and card; rows regenerated bit for bit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from deepbench_hf.card import render_card
from deepbench_hf.cli import main
from deepbench_hf.verify import (
    data_file_patterns,
    read_card_yaml,
    reload_config,
    sample_rows,
    verify,
)
from deepbench_hf.writer import file_sha256

SHARD = "shapes-hard/train-00001-of-00003.parquet"


@pytest.fixture
def copy(built_dir, tmp_path):
    """A private copy of the session's dataset folder (tests may damage it)."""
    target = tmp_path / "deepbench"
    shutil.copytree(built_dir, target)
    return target


def test_clean_folder_verifies_and_regenerates(built_dir, capsys):
    report = verify(built_dir, regenerate=6)
    assert report.ok, report.problems
    assert report.configs == ["shapes-easy", "shapes-hard"]
    assert report.shards == 10 and report.rows_regenerated == 12
    assert main(["verify", str(built_dir), "--regenerate", "3"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"ok: {built_dir}: 2 config(s), 10 shard(s)")
    assert "6 row(s) regenerated bit-identically" in out.out and out.err == ""
    scope = ["--config", "shapes-hard", "--config", "shapes-easy"]
    assert main(["verify", *scope, str(built_dir)]) == 0  # options before DIR too
    assert capsys.readouterr().out.startswith(f"ok: {built_dir}: 2 config(s), 10 shard(s)")
    assert main(["verify", str(built_dir), "--config", "shapes-hard"]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {built_dir}: 1 config(s), 5 shard(s)")


def test_resolved_config_reloads_to_the_recorded_hash(built_dir):
    record = json.loads((built_dir / "shapes-hard" / "deepbench.json").read_text())
    assert reload_config(record).config_hash == record["config_hash"]
    picks = sample_rows(record, 5)
    assert picks == sample_rows(record, 5) and len(set(picks)) == 5
    assert len(sample_rows(record, 10_000)) == 64


def test_corrupted_shard_fails_with_one_line_per_problem(copy, capsys):
    path = copy / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (copy / "shapes-easy" / "train-00000-of-00003.parquet").unlink()
    (copy / "shapes-easy" / "train-00007-of-00009.parquet").write_bytes(b"stray")
    code = main(["verify", str(copy)])
    out = capsys.readouterr()
    assert code == 1 and out.out == ""
    lines = out.err.strip().splitlines()
    assert all(line.startswith("deepbench verify: ") for line in lines)
    assert any(f"{SHARD}: SHA-256 mismatch" in line for line in lines)
    assert any("train-00000-of-00003.parquet: missing" in line for line in lines)
    assert any("train-00007-of-00009.parquet: not in deepbench.json" in line for line in lines)
    assert len(lines) == 3


def _rewrite_row(folder, change):
    """Change row 0 of a shard and update the record and card to match the new bytes."""
    path = folder / SHARD
    table = pq.read_table(path)
    table = change(table)
    pq.write_table(table, path, row_group_size=100, compression="zstd")
    info = folder / "shapes-hard" / "deepbench.json"
    record = json.loads(info.read_text())
    old = None
    for shard in record["splits"]["train"]["shards"]:
        if shard["filename"] == path.name:
            old = shard["sha256"]
            shard["sha256"] = file_sha256(path)
            shard["file_bytes"] = path.stat().st_size
    assert old is not None
    info.write_text(json.dumps(record, indent=1, sort_keys=True))
    records = {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/deepbench.json")}
    (folder / "README.md").write_text(render_card(records, folder.name))


def test_regenerate_catches_a_changed_row_that_checksums_cannot(copy):
    def brighten(table: pa.Table) -> pa.Table:
        column = table.column("noise_sigma").to_numpy().copy()
        column[0] = np.float32(column[0] + 0.25)
        index = table.column_names.index("noise_sigma")
        return table.set_column(index, "noise_sigma", pa.array(column, pa.float32()))

    _rewrite_row(copy, brighten)
    assert verify(copy).ok  # the checksums agree with the (rewritten) record and card
    report = verify(copy, regenerate=64, configs=["shapes-hard"])
    assert len(report.problems) == 1
    assert (
        f"{SHARD}: row train[16] differs from its regeneration in noise_sigma"
        in (report.problems[0])
    )


def test_card_and_record_disagreements_are_reported(copy):
    card = copy / "README.md"
    record = json.loads((copy / "shapes-easy" / "deepbench.json").read_text())
    sha = record["splits"]["test"]["shards"][0]["sha256"]
    card.write_text(card.read_text().replace(sha, "0" * 64))
    info = copy / "shapes-hard" / "deepbench.json"
    hard = json.loads(info.read_text())
    hard["resolved_config"]["seed"] += 1  # no longer matches the recorded hash
    info.write_text(json.dumps(hard))
    report = verify(copy)  # the hash is checked without --regenerate too
    assert any("lists another SHA-256 for shapes-easy/test-00000-of-00001.parquet" in p
               for p in report.problems)  # fmt: skip
    assert any("the resolved config hashes to" in p for p in report.problems)
    assert len(report.problems) == 2


def test_config_option_scopes_record_problems(copy):
    """A damaged record of another config is not a problem of the config being verified."""
    (copy / "shapes-hard" / "deepbench.json").write_text("{not json")
    assert verify(copy, configs=["shapes-easy"]).ok
    problems = verify(copy, configs=["shapes-hard"]).problems
    assert len(problems) == 1 and "shapes-hard" in problems[0], problems
    assert len(verify(copy).problems) == 1


def test_card_metadata_that_load_dataset_reads_must_match_the_records(copy):
    """data_files and dataset_info (features, splits, sizes) are what load_dataset follows."""
    card = copy / "README.md"
    text = card.read_text()
    swapped = text.replace("path: shapes-easy/test-*.parquet", "path: shapes-easy/train-*.parquet")
    card.write_text(swapped)
    (problem,) = verify(copy).problems
    assert problem.startswith(f"{card}: the data_files of shapes-easy differ from its deepbench")
    assert "\n" not in problem and problem.endswith("split: test}])")  # one line, whole
    card.write_text(text.replace("dtype: float32", "dtype: float64", 1))
    (problem,) = verify(copy).problems
    assert (
        problem
        == f"{card}: the dataset_info of shapes-easy differs from its deepbench.json in features"
    )
    card.write_text(text)
    meta = read_card_yaml(card)
    meta["dataset_info"] = [i for i in meta["dataset_info"] if i["config_name"] != "shapes-hard"]
    body = text.split("---", 2)[2]
    card.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---" + body)
    assert verify(copy).problems == [f"{card}: has no dataset_info for shapes-hard"]
    assert verify(copy, configs=["shapes-easy"]).ok
    info = copy / "shapes-hard" / "deepbench.json"
    record = json.loads(info.read_text())
    record["features"]["label"] = {"_type": "Bogus"}
    info.write_text(json.dumps(record))
    assert verify(copy, configs=["shapes-easy"]).ok  # another config's record: not a problem
    (problem,) = verify(copy, configs=["shapes-hard"]).problems
    assert problem.startswith(f"{info}: no card metadata follows (Feature type 'Bogus' not found")


def test_not_a_dataset_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"deepbench verify: {tmp_path / 'empty' / 'README.md'}: missing "
                   "(the dataset card declares the configs)"]  # fmt: skip


def test_stray_files_say_whether_load_dataset_reads_them(copy):
    """Only an unlisted file matching the card's data_files patterns is read by load_dataset."""
    shard = copy / "shapes-easy" / "train-00000-of-00003.parquet"
    (copy / "shapes-easy" / "extra.parquet").write_bytes(shard.read_bytes())
    (copy / "shapes-easy" / "train-extra.parquet").write_bytes(shard.read_bytes())
    (copy / "shapes-easy" / ".hidden.parquet").write_bytes(b"neither read nor pushed")
    (copy / "shapes-easy" / "notes.txt").write_text("matches no pattern, not parquet")
    report = verify(copy, configs=["shapes-easy"])
    assert len(report.problems) == 2, report.problems
    ignored, read = report.problems
    assert ignored.startswith(f"{copy / 'shapes-easy' / 'extra.parquet'}: stray file, not in ")
    assert "load_dataset ignores it" in ignored and "would read" not in ignored
    assert "shapes-easy/train-*.parquet" in ignored and "deepbench push would upload" in ignored
    assert read == (
        f"{copy / 'shapes-easy' / 'train-extra.parquet'}: not in deepbench.json (load_dataset "
        "would read it: it matches the data_files pattern shapes-easy/train-*.parquet)"
    )


def test_data_file_patterns_follow_the_card():
    record = {"splits": {"train": {}, "test": {}}}
    card = {
        "configs": [
            {"config_name": "a", "data_files": [{"split": "train", "path": "a/tr-*.parquet"},
                                                {"split": "test", "path": ["a/te-*.parquet"]}]},
            {"config_name": "b", "data_files": "b/*.parquet"},
            {"config_name": "c", "data_files": {"train": "c/x-*.parquet"}},
        ]
    }  # fmt: skip
    assert data_file_patterns(card, "a", record) == ["a/tr-*.parquet", "a/te-*.parquet"]
    assert data_file_patterns(card, "b", record) == ["b/*.parquet"]
    assert data_file_patterns(card, "c", record) == ["c/x-*.parquet"]
    assert data_file_patterns({}, "d", record) == ["d/train-*.parquet", "d/test-*.parquet"]


def test_regenerated_rows_span_every_split(built_dir):
    record = json.loads((built_dir / "shapes-hard" / "deepbench.json").read_text())
    picks = sample_rows(record, 12)
    assert {split for split, _ in picks} == set(record["splits"])
    assert picks != [("train", i) for i in range(12)]


def test_regenerate_checks_every_column_also_the_last(copy):
    def paint(table: pa.Table) -> pa.Table:
        name = table.column_names[-1]
        column = table.column(name).to_pylist()
        first = np.array(column[0])
        first.flat[0] += 1
        column[0] = first.tolist()
        return table.set_column(len(table.column_names) - 1, name, pa.array(column,
                                table.schema.field(name).type))  # fmt: skip

    last = pq.read_schema(copy / SHARD).names[-1]
    _rewrite_row(copy, paint)
    assert verify(copy).ok
    (problem,) = verify(copy, regenerate=64, configs=["shapes-hard"]).problems
    assert problem.endswith(f"row train[16] differs from its regeneration in {last}")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("file_bytes", "bytes, {} in deepbench.json"),
        ("card_sha", "does not list the SHA-256 of shapes-hard/train-00001-of-00003.parquet"),
        ("no_record", "shapes-hard: declared in README.md but no build record (deepbench.json)"),
        ("not_declared", "does not declare config shapes-hard (rebuild to update it)"),
        ("no_data_files", "the data_files of shapes-hard differ from its deepbench.json"),
        ("fewer_examples", "shapes-hard/train has 39 examples in the card, 40 in deepbench.json"),
        ("num_bytes", "the dataset_info of shapes-hard differs from its deepbench.json in splits"),
    ],
)
def test_each_disagreement_is_reported(copy, damage, expected):
    card = copy / "README.md"
    info = copy / "shapes-hard" / "deepbench.json"
    record = json.loads(info.read_text())
    meta = read_card_yaml(card)
    body = card.read_text().split("---", 2)[2]

    def hard(key):
        return next(e for e in meta[key] if e["config_name"] == "shapes-hard")

    if damage == "file_bytes":
        shard = record["splits"]["train"]["shards"][1]
        expected = f"{shard['file_bytes']} bytes, {shard['file_bytes'] + 1} in deepbench.json"
        shard["file_bytes"] += 1
        info.write_text(json.dumps(record))
    elif damage == "card_sha":
        sha = record["splits"]["train"]["shards"][1]["sha256"]
        card.write_text(
            "\n".join(line for line in card.read_text().splitlines() if sha not in line)
        )
    elif damage == "no_record":
        shutil.rmtree(copy / "shapes-hard")
    else:
        if damage == "not_declared":
            meta["configs"] = [c for c in meta["configs"] if c["config_name"] != "shapes-hard"]
        elif damage == "no_data_files":
            hard("configs").pop("data_files")
        else:
            train = next(s for s in hard("dataset_info")["splits"] if s["name"] == "train")
            if damage == "fewer_examples":
                train["num_examples"] -= 1
            else:
                train["num_bytes"] += 1
        card.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---" + body)
    problems = verify(copy).problems
    assert any(expected in p for p in problems), problems
