"""Dataset cards: valid Hub metadata, round trip through DatasetCard.load, complete contents."""

from __future__ import annotations

import json
import re

import pytest
from conftest import small_config
from fakehub import HUB_SIZE_CATEGORIES, HUB_TASK_CATEGORIES
from huggingface_hub import DatasetCard

from deepbench_hf import builtin_config_names, load_config
from deepbench_hf.card import (
    HUB_ANNOTATIONS_CREATORS,
    HUB_TASK_IDS,
    build_record,
    compact,
    config_diff,
    ladder,
    render_card,
    size_category,
)
from deepbench_hf.card import HUB_TASK_CATEGORIES as CARD_TASK_CATEGORIES
from deepbench_hf.columns import columns_for, feature_columns, undocumented
from deepbench_hf.kinds import features_for
from deepbench_hf.preview import write_preview
from deepbench_hf.writer import build_config, read_records

# The Hub's task ids of the categories cards may use (huggingface.js pipelines.ts subtasks).
HUB_SUBTASKS = {
    "multi-label-image-classification",
    "multi-class-image-classification",
    "face-detection",
    "vehicle-detection",
    "instance-segmentation",
    "semantic-segmentation",
    "panoptic-segmentation",
    "image-inpainting",
    "image-colorization",
    "super-resolution",
    "univariate-time-series-forecasting",
    "multivariate-time-series-forecasting",
    "tabular-multi-class-classification",
    "tabular-multi-label-classification",
    "tabular-single-column-regression",
}


@pytest.fixture(scope="module")
def card(built_dir):
    return DatasetCard.load(built_dir / "README.md")


def test_card_round_trips_through_datasetcard_load(built_dir, card):
    text = (built_dir / "README.md").read_text()
    assert str(card).strip() == text.strip()
    again = DatasetCard(str(card))
    assert again.data.to_dict() == card.data.to_dict()
    names = [c["config_name"] for c in card.data.to_dict()["configs"]]
    assert names == ["shapes-easy", "shapes-hard"]


def test_yaml_values_are_valid_hub_metadata(card):
    data = card.data.to_dict()
    assert CARD_TASK_CATEGORIES <= HUB_TASK_CATEGORIES
    assert HUB_TASK_IDS <= HUB_SUBTASKS
    assert data["license"] == "mit"
    assert data["task_categories"] and set(data["task_categories"]) <= CARD_TASK_CATEGORIES
    assert set(data["task_ids"]) <= HUB_TASK_IDS
    assert data["size_categories"] == ["n<1K"]
    assert set(data["size_categories"]) <= HUB_SIZE_CATEGORIES
    assert set(data["annotations_creators"]) <= HUB_ANNOTATIONS_CREATORS
    assert {"image-classification", "object-detection", "image-segmentation"} <= set(
        data["task_categories"]
    )
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert infos["shapes-hard"]["splits"] == [
        {"name": "train", "num_bytes": infos["shapes-hard"]["splits"][0]["num_bytes"],
         "num_examples": 40},
        {"name": "validation", "num_bytes": infos["shapes-hard"]["splits"][1]["num_bytes"],
         "num_examples": 12},
        {"name": "test", "num_bytes": infos["shapes-hard"]["splits"][2]["num_bytes"],
         "num_examples": 12},
    ]  # fmt: skip
    assert all(i["download_size"] > 0 and i["dataset_size"] > 0 for i in infos.values())


@pytest.mark.parametrize(
    ("n", "bucket"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (8_400, "1K<n<10K"),
        (99_999, "10K<n<100K"),
        (10**9, "1B<n<10B"),
        (10**11, "100B<n<1T"),
        (10**12, "n>1T"),
    ],
)
def test_size_categories_are_the_hub_buckets(n, bucket):
    assert size_category(n) == bucket
    assert bucket in HUB_SIZE_CATEGORIES


def test_card_body_has_every_section_and_the_provenance(built_dir, card):
    text = card.text
    for heading in (
        "## Configs",
        "### How the configs differ",
        "## Preview",
        "## Columns",
        "## How to load",
        "## How to regenerate exactly",
        "## Provenance",
        "## Citation",
    ):
        assert heading in text, heading
    records = dict(read_records(built_dir))
    for name, record in records.items():
        assert f"![preview of {name}]({name}/preview.png)" in text
        assert (built_dir / name / "preview.png").is_file()
        assert record["config_hash"] in text
        assert f"master seed {record['seed']}" in text
        for split in record["splits"].values():
            for shard in split["shards"]:
                assert f"`{name}/{shard['filename']}` | {shard['num_rows']} |" in text
                assert shard["sha256"] in text
        for key in ("numpy", "astropy", "datasets", "pyarrow", "python"):
            assert f"{key} {record['software'][key]}" in text
        # The resolved config is shown as YAML that reloads to the same hash.
        assert f"name: {name}" in text
    assert "deepbench-hf 0.1.0" in text or "deepbench-hf " in text
    assert "@article{voetberg2024deepbench" in text and "@software{deepbench_hf" in text
    assert 'with_format("torch"' in text and "streaming=True" in text
    assert "unnest(objects)" in text and "pl.scan_parquet" in text
    # The configs table has a row per config with its split sizes.
    rows = [line for line in text.splitlines() if re.match(r"^\| `shapes-\w+` \| shapes", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["`shapes-easy`", "`shapes-hard`"]
    assert all(r.rstrip().endswith("| 40 | 12 | 12 |") for r in rows)
    assert "Changes from `shapes-easy`" in text
    assert "* `label`: kind → count" in text


def test_every_feature_column_is_in_the_card(built_dir, card):
    records = dict(read_records(built_dir))
    for record in records.values():
        import datasets

        features = datasets.Features.from_dict(record["features"])
        for column in feature_columns(features):
            assert re.search(rf"^\| `{re.escape(column)}` \|", card.text, re.M), column
    assert "(undocumented)" not in card.text


@pytest.mark.parametrize("name", builtin_config_names())
def test_every_column_of_every_builtin_config_is_documented(name):
    config = load_config(name)
    missing = undocumented(config.kind, features_for(config))
    assert not missing, f"{name} ({config.kind}): document {missing} in deepbench_hf/columns.py"
    docs = columns_for(config.kind)
    assert all(doc.meaning for doc in docs.values())


def test_undocumented_columns_are_reported():
    import datasets

    features = datasets.Features(
        {
            "image": datasets.Array2D((4, 4), "float32"),
            "brand_new": datasets.Value("float32"),
            "objects": datasets.List(
                {"x": datasets.Value("float64"), "mystery": datasets.Value("int32")}
            ),
        }
    )
    assert undocumented("shapes", features) == ["brand_new", "objects.mystery"]


def test_config_diff_and_compact_forms():
    easy = load_config("shapes-easy").resolved
    hard = load_config("shapes-hard").resolved
    changes = {path: (compact(a), compact(b)) for path, a, b in config_diff(easy, hard)}
    assert changes["label"] == ("kind", "count")
    assert changes["objects.count"] == ("1", "2–6 (int)")
    assert changes["noise"] == ("none", "gaussian(sigma=U(0.2, 0.5))")
    assert "splits" not in changes and "name" not in changes and "description" not in changes
    assert compact({"normal": {"mean": 1.0, "std": 0.5, "low": 0.0}}) == "N(1, 0.5) in [0, inf]"
    assert compact({"choice": {"values": [1, 2], "weights": [3.0, 1.0]}}) == (
        "one of 1, 2 (weights 3, 1)"
    )
    assert compact({"height": 64, "width": 32}) == "64×32"
    nested = {"n_bodies": 5, "mass_range": {"low": 0.5, "high": 1.5}}
    assert compact(nested) == "mass_range=(high=1.5, low=0.5), n_bodies=5"


def test_ladder_puts_a_bare_name_between_its_easy_and_hard_rungs():
    names = ["lensing", "lensing-hard", "lensing-easy", "nbody-hard", "nbody", "my-nbody"]
    records = {name: {"kind": "nbody" if "nbody" in name else "lensing"} for name in names}
    assert ladder(records) == [
        "lensing-easy", "lensing", "lensing-hard", "nbody", "nbody-hard", "my-nbody"
    ]  # fmt: skip


def test_build_record_keeps_no_local_path_in_the_command():
    config = small_config("shapes-easy")
    record = build_record(
        config, [], command="deepbench build shapes-easy --out /home/someone/data/deepbench"
    )
    assert record["command"] == "deepbench build shapes-easy --out deepbench"
    assert record["software"]["python"]
    assert set(record["software"]) >= {"deepbench-hf", "git_commit", "numpy", "astropy"}


def test_render_is_deterministic_and_previews_are_reproducible(built_dir, tmp_path):
    records = dict(sorted(read_records(built_dir)))
    assert render_card(records, "deepbench") == render_card(records, "deepbench")
    record = records["shapes-hard"]
    shutil_copy = tmp_path / "shapes-hard"
    shutil_copy.mkdir()
    for split in record["splits"].values():
        for shard in split["shards"][:1]:
            (shutil_copy / shard["filename"]).write_bytes(
                (built_dir / "shapes-hard" / shard["filename"]).read_bytes()
            )
    path = write_preview(shutil_copy, record)
    assert (shutil_copy / "preview.png").read_bytes() == (
        built_dir / "shapes-hard" / "preview.png"
    ).read_bytes()
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 300 and image.height >= 300
        assert "Software" not in image.info


def test_config_without_images_gets_no_preview_link(built_dir):
    records = {name: json.loads(json.dumps(r)) for name, r in read_records(built_dir)}
    record = records["shapes-easy"]
    record["features"] = {k: v for k, v in record["features"].items() if not k.startswith("image")}
    text = render_card({"shapes-easy": record}, "deepbench")
    assert "`shapes-easy`**: no image column, no preview." in text
    assert "preview.png" not in text


def test_a_folder_of_nbody_configs_gets_no_image_conventions(tmp_path):
    build_config(small_config("nbody"), tmp_path / "nb", num_proc=1, progress=False)
    text = (tmp_path / "nb" / "README.md").read_text()
    for absent in ("objects.bbox", "`bbox`", "`objects.*`", "noise_seed", "FLOAT[][]", "png"):
        assert absent not in text, absent
    assert "`nbody`**: no image column, no preview." in text
    assert "--format npz|npy|h5|fits --out OUT" in text


def test_card_shows_each_configs_release_notes_next_to_its_version(built_dir, card):
    records = dict(read_records(built_dir))
    for name, record in records.items():
        notes = record["resolved_config"]["release_notes"]
        assert notes == load_config(name).release_notes and record["version"] in notes
        start = card.text.index(f"<code>{name}</code>: versions")
        section = card.text[start : card.text.index("</details>", start)]
        version = section.index(f"Config version {record['version']}")
        first = " ".join(notes[record["version"]].split()[:6])
        assert version < section.index(f"* **{record['version']}**: {first}")
        assert section.index("* **1.0.0**: Initial release.") < section.index("```yaml")


def test_release_notes_are_listed_newest_first_and_stay_out_of_the_yaml_header(built_dir):
    records = {name: json.loads(json.dumps(r)) for name, r in read_records(built_dir)}
    plain = render_card(records, "deepbench")
    record = records["shapes-hard"]
    record["resolved_config"]["version"] = record["version"] = "10.0.0"
    record["resolved_config"]["release_notes"] = {
        "1.0.0": "Initial release.",
        "10.0.0": "Numerically the newest.",
        "2.0.0": "Two words\n  over two lines.",
    }
    text = render_card(records, "deepbench")
    notes = re.findall(r"^\* \*\*(\d+\.\d+\.\d+)\*\*: (.*)$", text, re.M)
    assert notes[-3:] == [
        ("10.0.0", "Numerically the newest."),
        ("2.0.0", "Two words over two lines."),
        ("1.0.0", "Initial release."),
    ]
    assert DatasetCard(text).data.to_dict() == DatasetCard(plain).data.to_dict()
    # Records written before release notes existed render without a notes list.
    for r in records.values():
        del r["resolved_config"]["release_notes"]
    text = render_card(records, "deepbench")
    assert "Release notes" not in text and "Config version 10.0.0" in text


def test_release_notes_are_not_a_difficulty_knob_and_not_hashed():
    easy = small_config("shapes-easy")
    edited = small_config("shapes-easy", 'release_notes={"1.0.1": Reworded.}')
    assert [p for p, _, _ in config_diff(easy.resolved, edited.resolved)] == []
    a, b = build_record(easy, [], command=None), build_record(edited, [], command=None)
    assert a["config_hash"] == b["config_hash"]
    assert b["resolved_config"]["release_notes"]["1.0.1"] == "Reworded."


def test_recorded_command_carries_no_paths_addresses_or_credentials():
    from deepbench_hf.card import _portable_command

    command = (
        "deepbench build sky-hard ../../alice/my.yaml ~/more.yaml --out /home/alice/data/ds "
        "--scheduler tcp://alice:secret@10.0.0.5:8786 --set psf_file=/home/alice/psf.fits "
        "--set objects.count=3 --num-proc 2"
    )
    assert _portable_command(command) == (
        "deepbench build sky-hard my.yaml more.yaml --out ds --set psf_file=psf.fits "
        "--set objects.count=3 --num-proc 2"
    )
    assert _portable_command(
        "deepbench build lensing --out=s3://key:secret@bucket/ds --scheduler=tcp://h:1"
    ) == ("deepbench build lensing --out=ds")
    for out in ("--out=s3://key:secret@bucket", "--out s3://key:secret@bucket/"):
        assert "secret" not in _portable_command(f"deepbench build lensing {out}")


def test_split_sizes_sum_over_shards_and_the_download_size_is_the_files(built_dir):
    """num_bytes of a split (Arrow bytes, as datasets counts them) sums its shards; the card's
    dataset_size sums the splits and download_size the Parquet files."""
    import pyarrow.parquet as pq

    from deepbench_hf.arrow import table_num_bytes
    from deepbench_hf.card import card_data

    records = dict(read_records(built_dir))
    record = records["shapes-hard"]
    train = record["splits"]["train"]
    assert len(train["shards"]) == 3
    folder = built_dir / "shapes-hard"
    arrow = [table_num_bytes(pq.read_table(folder / s["filename"])) for s in train["shards"]]
    assert train["num_bytes"] == sum(arrow)
    info = {i["config_name"]: i for i in card_data(records).to_dict()["dataset_info"]}
    splits = record["splits"].values()
    assert info["shapes-hard"]["dataset_size"] == sum(s["num_bytes"] for s in splits)
    files = [(folder / sh["filename"]).stat().st_size for s in splits for sh in s["shards"]]
    assert info["shapes-hard"]["download_size"] == sum(files)


def test_card_totals_sizes_and_defaults(built_dir):
    from deepbench_hf.card import card_data

    records = dict(read_records(built_dir))
    text = render_card(records, "deepbench")
    assert "128 examples in 2 configs" in text  # 64 + 64
    one = card_data({"shapes-hard": records["shapes-hard"]}).to_dict()
    assert one["configs"][0]["default"] is True  # load_dataset(folder) needs no config name
    assert all("default" not in c for c in card_data(records).to_dict()["configs"])
    big = json.loads(json.dumps(records["shapes-hard"]))
    for split, n in zip(("train", "validation", "test"), (600, 300, 300), strict=True):
        big["splits"][split]["num_examples"] = n  # no split reaches 1K, all of them do
    assert card_data({"shapes-hard": big}).to_dict()["size_categories"] == ["1K<n<10K"]


def test_denoising_is_a_task_only_for_noisy_configs(built_dir):
    from deepbench_hf.card import config_tasks

    record = json.loads(json.dumps(dict(read_records(built_dir))["shapes-hard"]))
    assert any("denoising" in t.text for t in config_tasks(record))
    record["resolved_config"]["noise"] = "none"
    assert not any("denoising" in t.text for t in config_tasks(record))


def test_provenance_names_the_seed_and_a_dirty_checkout(built_dir):
    records = json.loads(json.dumps(dict(read_records(built_dir))))
    record = records["shapes-hard"]
    text = render_card(records, "deepbench")
    regenerate = text.split("## How to regenerate exactly", 1)[1].split("\n## ", 1)[0]
    assert f"* `shapes-hard` (master seed {record['seed']}, config hash" in regenerate
    for r in records.values():
        r["software"].update(git_commit="0123456789abcdef", git_dirty=True)
    text = render_card(records, "deepbench")
    assert "(git commit `0123456789abcdef`, with local changes)" in text
    for r in records.values():
        r["software"]["git_dirty"] = False
    assert "with local changes" not in render_card(records, "deepbench")
