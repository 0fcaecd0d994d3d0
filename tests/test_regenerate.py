"""deepbench_hf.regenerate_row: a BuildConfig or a config name / path, the same row bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import same_rows

import deepbench_hf
from deepbench_hf import ConfigError, load_config, regenerate_row
from deepbench_hf.arrow import rows_to_table
from deepbench_hf.kinds import features_for

CONFIGS = Path(__file__).resolve().parent.parent / "builder_configs"


def table(config, row):
    return rows_to_table([row], features_for(config))


@pytest.mark.parametrize(("name", "split", "index"), [("lensing", "train", 3),
                                                      ("shapes-hard", "test", 5)])  # fmt: skip
def test_a_config_name_gives_the_row_of_its_build_config(name, split, index):
    config = load_config(name)
    expected = table(config, regenerate_row(config, split, index))
    by_name = table(config, deepbench_hf.regenerate_row(name, split, index))
    by_path = table(config, regenerate_row(CONFIGS / f"{name}.yaml", split, index))
    assert same_rows(expected, by_name) and same_rows(expected, by_path)
    assert by_name.column("seed").to_pylist() == expected.column("seed").to_pylist()


def test_anything_else_is_a_clear_error():
    with pytest.raises(TypeError, match=r"regenerate_row: config must be a BuildConfig or a "
                       r"config name or YAML path \(str or os.PathLike\), got int"):  # fmt: skip
        regenerate_row(3, "train", 0)
    with pytest.raises(TypeError, match="got dict"):
        regenerate_row({"kind": "shapes"}, "train", 0)
    with pytest.raises(ConfigError, match="no-such-config: unknown config"):
        regenerate_row("no-such-config", "train", 0)
