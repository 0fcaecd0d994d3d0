"""SQL and polars over the shards: deepbench query, its views, and the README's examples."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL, read_split

from deepbench_hf.cli import main
from deepbench_hf.query import connect, format_table, run_query, view_name

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Query with DuckDB and polars"


def section_blocks(text: str, language: str) -> list[str]:
    """The fenced ``language`` blocks of the README section :data:`SECTION`."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    body = text[start : end if end != -1 else len(text)]
    return re.findall(rf"```{language}\n(.*?)```", body, re.S)


def objects_by_kind(folder: Path) -> dict[str, list[int]]:
    areas: dict[str, list[int]] = defaultdict(list)
    for split in SMALL:
        for objects in read_split(folder, split)["objects"].to_pylist():
            for o in objects:
                areas[o["kind"]].append(o["area_px"])
    return areas


def test_view_names():
    assert view_name("shapes-hard") == "shapes_hard"
    assert view_name("my.config-2") == "my_config_2"
    assert view_name("3body") == "_3body"


def test_one_view_per_config_with_a_split_column(built_dir):
    columns, rows = run_query(
        built_dir, "SELECT split, count(*) FROM shapes_easy GROUP BY split ORDER BY split"
    )
    assert columns == ["split", "count_star()"]
    assert dict(rows) == SMALL
    con = connect(built_dir)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal")
             .fetchall()}  # fmt: skip
    assert views == {"shapes_easy", "shapes_hard"}
    row = con.execute("SELECT image[1][1], len(image), len(image[1]) FROM shapes_hard LIMIT 1")
    assert row.fetchone()[1:] == (64, 64)


def test_more_than_three_objects_in_duckdb_and_polars(built_dir):
    import polars as pl

    table = read_split(built_dir / "shapes-hard", "train")
    expected = sorted(i for i, n in zip(table["index"].to_pylist(), table["n_objects"].to_pylist(),
                                        strict=True) if n > 3)  # fmt: skip
    _, rows = run_query(
        built_dir,
        "SELECT index FROM shapes_hard WHERE split = 'train' AND n_objects > 3 ORDER BY index",
    )
    assert [r[0] for r in rows] == expected
    lazy = pl.scan_parquet(str(built_dir / "shapes-hard" / "train-*.parquet"))
    got = lazy.filter(pl.col("n_objects") > 3).select("index").sort("index").collect()
    assert got["index"].to_list() == expected


def test_unnest_objects_mean_area_per_kind(built_dir):
    import polars as pl

    areas = objects_by_kind(built_dir / "shapes-hard")
    _, rows = run_query(
        built_dir,
        "SELECT o.kind, count(*), avg(o.area_px) FROM shapes_hard, unnest(objects) AS t(o) "
        "GROUP BY o.kind ORDER BY o.kind",
    )
    assert [r[0] for r in rows] == sorted(areas)
    for kind, count, mean in rows:
        assert count == len(areas[kind])
        assert mean == pytest.approx(np.mean(areas[kind]))
    frame = (
        pl.scan_parquet(str(built_dir / "shapes-hard" / "*.parquet"))
        .select("objects")
        .explode("objects")
        .unnest("objects")
        .group_by("kind")
        .agg(pl.col("area_px").mean().alias("mean_area"))
        .sort("kind")
        .collect()
    )
    assert frame["kind"].to_list() == sorted(areas)
    np.testing.assert_allclose(frame["mean_area"].to_numpy(), [r[2] for r in rows])


def test_polars_reads_images_as_arrays(built_dir):
    import polars as pl

    frame = pl.read_parquet(str(built_dir / "shapes-easy" / "train-*.parquet"), columns=["image"])
    images = (
        frame.select(pl.col("image").ext.storage().cast(pl.Array(pl.Float32, (64, 64))))
        .to_series()
        .to_numpy()
    )
    assert images.shape == (SMALL["train"], 64, 64) and images.dtype == np.float32


def test_query_cli_prints_a_table_or_csv(built_dir, capsys):
    sql = "SELECT split, count(*) AS n FROM shapes_hard GROUP BY split ORDER BY split"
    assert main(["query", str(built_dir), sql]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["split", "|", "n"]
    assert out[2:] == ["test       | 12", "train      | 40", "validation | 12", "(3 rows)"]
    assert main(["query", str(built_dir), sql, "--csv"]) == 0
    assert capsys.readouterr().out == "split,n\ntest,12\ntrain,40\nvalidation,12\n"
    assert main(["query", str(built_dir), "SELECT image FROM shapes_easy", "--max-rows", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[-1] == "(64 rows, 62 not shown)"
    assert all(len(line) <= 48 for line in lines)


def test_query_errors_are_one_line(built_dir, tmp_path, capsys):
    assert main(["query", str(built_dir), "SELECT nope FROM shapes_easy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepbench: error: query failed:")
    assert main(["query", str(tmp_path), "SELECT 1"]) == 2
    assert "no config folders with Parquet shards" in capsys.readouterr().err
    for name in ("sky-easy", "sky.easy", "Sky_Easy"):  # one view name (DuckDB ignores case)
        (tmp_path / name).mkdir()
        (tmp_path / name / "train-00000-of-00001.parquet").write_bytes(b"")
    assert main(["query", str(tmp_path), "SELECT 1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'Sky_Easy' and 'sky-easy' would share the view" in err[0]


def test_query_without_duckdb_says_how_to_install_it(built_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb raises ImportError
    assert main(["query", str(built_dir), "SELECT 1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["deepbench: error: query needs DuckDB: pip install 'deepbench-hf[query]'"]


def test_format_table_cuts_long_cells_and_shows_nulls():
    text = format_table(["a", "b"], [(1.0 / 3.0, None), ("x" * 100, float("nan"))], max_width=10)
    lines = text.splitlines()
    assert lines[2].startswith("0.333333") and lines[2].endswith("NULL")
    assert lines[3].startswith("xxxxxxxxx…") and lines[3].endswith("NaN")


def test_readme_query_examples_run(built_dir, monkeypatch):
    text = README.read_text() if README.is_file() else ""
    if SECTION not in text:
        pytest.skip(f"README.md has no {SECTION!r} section yet")
    blocks = section_blocks(text, "sql")
    assert blocks, "the section should hold ```sql examples"
    monkeypatch.chdir(built_dir.parent)  # the examples read 'deepbench/<config>/*.parquet'
    con = connect(built_dir)
    for block in blocks:
        rows = con.execute(block).fetchall()
        assert rows, block
    for block in section_blocks(text, "python"):
        exec(compile(block, str(README), "exec"), {})
