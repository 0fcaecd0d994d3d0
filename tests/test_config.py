"""Config loading: named configs, extends, overrides, and one-line errors naming file and field."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from deepbench_hf import ConfigError, builtin_config_names, load_config
from deepbench_hf.distributions import Constant, Uniform


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_every_builtin_config_loads_and_describes_itself():
    names = builtin_config_names()
    assert {"shapes-easy", "shapes-medium", "shapes-hard"} <= set(names)
    for name in names:
        config = load_config(name)
        assert config.name == name
        assert config.summary and config.description
        assert sum(config.splits.values()) > 0


def test_extends_is_a_short_diff_and_distributions_replace():
    easy, hard = load_config("shapes-easy"), load_config("shapes-hard")
    assert hard.params["image_size"] == easy.params["image_size"]
    assert (
        hard.params["objects"]["polygon"]["n_vertices"]
        == easy.params["objects"]["polygon"]["n_vertices"]
    )
    assert hard.params["objects"]["count"].to_config() == {"randint": [2, 6]}
    assert hard.params["noise"][0] == "gaussian"
    assert easy.params["noise"] is None


def test_user_file_extending_a_builtin(tmp_path):
    path = write(
        tmp_path,
        "mine.yaml",
        """
        extends: shapes-hard
        description: mine
        objects:
          count: {uniform: [1, 2]}
        """,
    )
    with pytest.raises(ConfigError, match=r"mine.yaml: objects.count.uniform: uniform draws real"):
        load_config(str(path))
    path.write_text("extends: shapes-hard\nobjects: {count: 3}\nlabel: none\nbalanced: false\n")
    config = load_config(str(path))
    assert config.name == "mine"
    assert config.params["objects"]["count"] == Constant(3)


def test_overrides_and_shortcuts():
    config = load_config(
        "shapes-hard",
        ["noise.gaussian.sigma=0", "objects.x_frac={uniform: [0.2, 0.3]}", "image_size=32"],
        seed=5,
        splits={"train": 7},
    )
    assert config.params["noise"][1]["sigma"] == Constant(0.0)
    assert config.params["objects"]["x_frac"] == Uniform(0.2, 0.3)
    assert config.params["image_size"] == {"height": 32, "width": 32}
    assert config.seed == 5
    assert config.splits == {"train": 7, "validation": 1000, "test": 1000}
    assert config.config_hash != load_config("shapes-hard").config_hash


def test_scientific_notation_reads_as_numbers(tmp_path):
    """YAML 1.2 floats (``5e4``), which PyYAML's YAML 1.1 reads as strings, are numbers in both
    ``--set`` values and config files; quoted, they stay strings."""
    config = load_config("sky-easy", ["noise.ccd.sky_level=5e1", "noise.ccd.gain=2.5E+0"])
    assert config.params["noise"][1]["sky_level"] == Constant(50.0)
    assert config.params["noise"][1]["gain"] == Constant(2.5)
    path = tmp_path / "mine.yaml"
    path.write_text("extends: sky-easy\nnoise: {ccd: {sky_level: 1e2, gain: 2, read_noise: 3e0}}\n")
    noise = load_config(str(path)).params["noise"][1]
    assert noise["sky_level"] == Constant(100.0) and noise["read_noise"] == Constant(3.0)
    with pytest.raises(ConfigError, match="sky_level"):
        load_config("sky-easy", ["noise.ccd.sky_level='5e1'"])
    as_float = load_config("shapes-easy", ["splits.train=1e1", "seed=2.0e+1"])
    as_int = load_config("shapes-easy", ["splits.train=10", "seed=20"])
    assert as_float.splits["train"] == 10 and isinstance(as_float.splits["train"], int)
    assert as_float.config_hash == as_int.config_hash


def test_resolved_config_reloads_to_the_same_hash(tmp_path):
    config = load_config("shapes-medium", ["objects.count=1"])
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    again = load_config(str(path))
    assert again.resolved == config.resolved
    assert again.config_hash == config.config_hash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "objects: {rectangle: {widht: 3}}",
            r"rectangle.widht: unknown key; allowed: width",
        ),
        ("objects: {count: many}", r"objects.count: expected an integer in \[0, 10000\]"),
        (
            "objects: {line_width: {uniform: [3, 1]}}",
            r"line_width.uniform: low \(3\) > high",
        ),
        ("image_size: -4", r"image_size.height: expected an integer in \[1, 8192\], got -4"),
        ("image_size: {height: 0, width: 8}", r"image_size.height: expected an integer in \[1, 8"),
        (
            "objects: {kinds: {hexagon: 1}}",
            r"kinds.hexagon: unknown kind; allowed: rect",
        ),
        ("objects: {kinds: {circle: .nan}}", r"kinds.circle: weight must be a finite number"),
        ("objects: {kinds: {circle: .inf}}", r"kinds.circle: weight must be a finite number"),
        ("objects: {kinds: {circle: 1" + "0" * 400 + "}}", r"kinds.circle: weight must be a fin"),
        ("objects: {kinds: {circle: 1.0e308, line: 1.0e308}}", r"kinds: at least one weight"),
        ("kind: galaxy", r"kind: expected one of shapes, sky, lensing, nbody, got 'galaxy'"),
        ("splits: {train: -1}", r"splits.train: expected an integer in \[0, 1e\+09\], got -1"),
        ("splits: {dev: 3}", r"splits.dev: unknown key; allowed: train, validation, test"),
        ("noise: {poisson: {lam: 1}}", r"noise.poisson: unknown option; allowed: gaussian, none$"),
        ("noise: poisson", r"noise: expected exactly one of gaussian, none, got 'poisson'"),
        (
            "noise: {gaussian: {sigma: 1}, ccd: {gain: 1}}",
            r"noise: give one option, got gaussian and ccd$",
        ),
        (
            "objects: {count: {randint: [1, 2], choice: [1, 2]}}",
            r"objects.count: give one distribution, got randint and choice$",
        ),
        (
            "noise: {gaussian: {sigma: -1}}",
            r"gaussian.sigma: expected a number in \[0, 1e\+12\]",
        ),
        ("noise: {gaussian: {sigma: 1.0e+300}}", r"gaussian.sigma: expected a number in \[0, 1e"),
        (
            "objects: {ellipse: {semi_major: 1.0e-300}}",
            r"semi_major: expected a number in \[0\.01,",
        ),
        ("objects: {ellipse: {axis_ratio: 0}}", r"axis_ratio: expected a number in \[0\.001, 1\]"),
        ("seed: 1.5", r"seed: expected an integer"),
        ("label: colour", r"label: expected one of none, kind, count"),
        ("colour: red", r"colour: unknown key"),
        ("objects: {count: 2}", r"objects.count: must be 1 when label is kind"),
        ("objects: [1, 2]", r"objects: expected a mapping"),
    ],
)
def test_bad_fields_give_one_line_errors_naming_file_and_path(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


def assert_one_line_error(tmp_path, text: str, message: str) -> None:
    """A config extending shapes-easy with ``text`` fails with one line naming its file."""
    path = write(tmp_path, "bad.yaml", f"extends: shapes-easy\n{text}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(str(path))
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(str(path)), line


def test_error_names_the_layer_that_set_the_field(tmp_path):
    write(tmp_path, "base.yaml", "extends: shapes-easy\nobjects: {line_width: {uniform: [3, 1]}}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"^.*base.yaml: objects.line_width.uniform: low"):
        load_config(str(child))
    with pytest.raises(ConfigError, match=r"^--set: objects.count: expected an integer"):
        load_config("shapes-hard", ["objects.count=-3"])


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no-such-config", "no-such-config: unknown config; available: .*shapes-easy"),
        ("missing.yaml", "missing.yaml: config file not found"),
    ],
)
def test_unknown_configs(ref, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ref)


def test_circular_extends_and_bad_yaml(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(tmp_path / "a.yaml"))
    # the file that closes the loop, named with its folder, and the loop
    assert str(caught.value) == (
        f"{tmp_path / 'b.yaml'}: extends: circular extends chain: a.yaml -> b.yaml -> a.yaml"
    )
    write(tmp_path, "c.yaml", "kind: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml: invalid YAML at line 2"):
        load_config(str(tmp_path / "c.yaml"))
    with pytest.raises(ConfigError, match=r"--set: .*expected KEY.PATH=VALUE"):
        load_config("shapes-easy", ["noequals"])


KEYS = ["seed", "image_size", "objects.count", "objects.line_width", "objects.angle", "label"]
VALUES = st.one_of(
    st.integers(-10, 10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(
        st.sampled_from(["uniform", "randint", "x"]), st.lists(st.integers(-5, 5)), max_size=1
    ),
)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_override_loads_or_fails_with_one_line_config_error(key, value):
    import yaml

    text = f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...')}"
    try:
        config = load_config("shapes-easy", [text])
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("--set")
    else:
        assert config.name == "shapes-easy"


def test_a_later_layer_switches_a_one_of_option(tmp_path):
    path = write(tmp_path, "k.yaml", "extends: shapes-hard\nnoise: {gaussian: {sigma: 0.5}}\n")
    assert load_config(str(path)).params["noise"][1]["sigma"] == Constant(0.5)
    config = load_config("nbody", ["initial={figure_eight: {}}", "n_dims=2"])
    assert config.resolved["initial"] == {"figure_eight": {"mass": 1.0}}
    child = write(
        tmp_path,
        "kepler.yaml",
        "extends: nbody\nn_dims: 2\ninitial: {kepler: {eccentricity: 0.3}}\n",
    )
    assert list(load_config(str(child)).resolved["initial"]) == ["kepler"]


def test_options_blocks_name_one_option_per_layer(tmp_path):
    """Two options of a ``noise``/``psf``/``initial`` block in one layer are an error naming that
    layer (not silently merged or dropped); across layers the later option still wins."""
    two = "noise: {gaussian: {sigma: 1}, ccd: {sky_level: 10, gain: 1, read_noise: 1}}\n"
    mine = write(tmp_path, "mine.yaml", "extends: sky-medium\n" + two)
    for overrides in ([], ["noise.ccd.gain=3"], ["noise={gaussian: {sigma: 2}}"]):
        with pytest.raises(ConfigError) as info:
            load_config(str(mine), overrides)
        assert str(info.value) == f"{mine}: noise: give one option, got gaussian and ccd"
    write(tmp_path, "base.yaml", "extends: sky-medium\n" + two)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"^\S*base.yaml: noise: give one option, got gaussian"):
        load_config(str(child))
    with pytest.raises(ConfigError, match=r"^--set: initial: give one option, got kepler and plum"):
        load_config("nbody", ["initial={kepler: {}, plummer: {}}"])
    # One option per layer: a later layer switches, whichever layer named the earlier option.
    gauss = write(tmp_path, "gauss.yaml", "extends: sky-medium\nnoise: {gaussian: {sigma: 2}}\n")
    assert load_config(str(gauss)).resolved["noise"] == {"gaussian": {"sigma": 2.0}}
    config = load_config(str(gauss), ["noise.ccd.gain=3"])
    assert list(config.resolved["noise"]) == ["ccd"]
    assert config.resolved["noise"]["ccd"]["gain"] == 3.0


def test_an_unknown_option_is_reported_alone_not_merged(tmp_path):
    """``psf: {airy: ..}`` over a Moffat PSF names the unknown option, not the merged mapping."""
    path = write(tmp_path, "airy.yaml", "extends: sky-medium\npsf: {airy: {fwhm: 2}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}: psf.airy: unknown option; allowed: moffat, gaussian, none"
    path.write_text("extends: sky-medium\npsf: airy\n")
    with pytest.raises(ConfigError, match=r"airy.yaml: psf: expected exactly one of moffat, gau"):
        load_config(str(path))


def test_errors_about_merged_values_name_the_users_file(tmp_path):
    """The file the user wrote is named, not the builtin it extends (nor a bare config name)."""
    mine = write(tmp_path, "my.yaml", "extends: sky-hard\nlabel: kind\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(mine))
    message = str(info.value)
    assert message.startswith(f"{mine}: objects.count: must be 1 when label is kind"), message
    assert "objects.count is set in sky-hard (sky-hard.yaml)" in message
    assert "\n" not in message
    # The cross-field rule names the latest layer involved: here the --set that chose the label.
    with pytest.raises(ConfigError, match=r"^--set: objects.count: must be 1 when label is kind"):
        load_config("sky-hard", ["label=kind"])
    # A value valid for the parent's kind but not for the kind this file switches to.
    mine.write_text("extends: shapes-hard\nkind: sky\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(mine))
    message = str(info.value)
    assert message.startswith(f"{mine}: label: expected one of none, kind, got 'count'"), message
    assert "label is set in shapes-hard (shapes-hard.yaml), for kind shapes" in message
    # A field the new kind does not have at all: the switching layer too.
    with pytest.raises(ConfigError, match=r"^--set: image_size: unknown key; .*image_size is "
                       r"set in lensing \(lensing.yaml\), for kind lensing$"):  # fmt: skip
        load_config("lensing", ["kind=nbody"])
    # ... while a base file's own bad value still names that base file.
    write(tmp_path, "base.yaml", "extends: sky-easy\nobjects: {star: {beta: 1}}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"^\S*base.yaml: objects.star.beta: expected a number"):
        load_config(str(child))


def test_loguniform_draws_stay_inside_its_bounds():
    """exp(log(x)) can miss x by an ulp; a validated range must hold for every draw."""
    from deepbench_hf.distributions import LogUniform

    class Edge:
        def __init__(self, end: int) -> None:
            self.end = end

        def uniform(self, low: float, high: float) -> float:
            return (low, high)[self.end]

    for low, high in [(0.5, 3.0), (1e3, 1e5), (1e4, 1e5)]:  # unclamped: 3.0000000000000004, ...
        for end in (0, 1):
            assert low <= LogUniform(low, high).sample(Edge(end)) <= high


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "shapes-harder",
            r"extends: unknown config 'shapes-harder'; known: lensing, .*shapes-hard",
        ),
        ("nowhere/base.yaml", r"extends: config file not found: \S*nowhere/base.yaml$"),
    ],
)
def test_unknown_extends_target_names_the_file_and_field(tmp_path, target, message):
    path = write(tmp_path, "my.yaml", f"extends: {target}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(str(path))
    assert str(info.value).startswith(f"{path}: extends: "), str(info.value)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- release notes


def test_every_builtin_config_has_a_release_note_for_its_version():
    for name in builtin_config_names():
        config = load_config(name)
        assert config.version in config.release_notes, name
        assert config.release_notes[config.version].strip(), name
        assert config.resolved["release_notes"] == config.release_notes


def test_release_notes_are_newest_first_and_resolved(tmp_path):
    path = write(
        tmp_path,
        "mine.yaml",
        """
        extends: shapes-easy
        version: 10.0.0
        release_notes:
          "2.0.0": Two.
          "10.0.0": Ten (numerically newer than 2.0.0).
          "1.0.0": One.
        """,
    )
    config = load_config(str(path))
    assert list(config.release_notes) == ["10.0.0", "2.0.0", "1.0.0"]
    assert config.resolved["release_notes"] == config.release_notes
    again = write(tmp_path, "again.yaml", config.to_yaml())
    assert load_config(str(again)).release_notes == config.release_notes


def test_release_notes_are_not_inherited_through_extends(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        'extends: shapes-easy\nversion: 1.0.0\nrelease_notes: {"1.0.0": Base.}\n',
    )
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 3\n")
    assert load_config(str(child)).release_notes == {}
    assert load_config(str(child)).resolved["release_notes"] == {}
    # Without inherited notes, the child may bump its version freely ...
    bumped = write(tmp_path, "bumped.yaml", "extends: base.yaml\nversion: 2.0.0\n")
    assert load_config(str(bumped)).version == "2.0.0"
    # ... and its own notes replace, rather than merge with, the parent's.
    own = write(tmp_path, "own.yaml", 'extends: base.yaml\nrelease_notes: {"1.0.0": Own.}\n')
    assert load_config(str(own)).release_notes == {"1.0.0": "Own."}
    # shapes-hard extends shapes-easy (notes: 1.0.1, 1.0.0) and lists its own history
    assert list(load_config("shapes-hard").release_notes) == ["3.0.0", "2.0.0", "1.0.0"]
    assert list(load_config("shapes-easy").release_notes) == ["1.0.1", "1.0.0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'version: 1.0.0\nrelease_notes: {"2.0.0": Later.}',
            r"release_notes.2.0.0: newer than the config's version 1.0.0; allowed: versions <= 1",
        ),
        (
            'version: 1.10.0\nrelease_notes: {"1.9.0": Older.}',
            r"release_notes: no note for the config's version 1.10.0; each version needs one",
        ),
        (
            'version: 1.9.0\nrelease_notes: {"1.9.0": A., "1.10.0": Numerically newer.}',
            r"release_notes.1.10.0: newer than the config's version 1.9.0",
        ),
        ("release_notes: {1.0: Float key.}", r"release_notes.1.0: expected a version MAJOR.MINOR"),
        ('release_notes: {"v1.0.0": X.}', r"release_notes.v1.0.0: expected a version MAJOR"),
        ('release_notes: {"1.0.0": ""}', r"release_notes.1.0.0: expected a non-empty note"),
        ('release_notes: {"1.0.0": 3}', r"release_notes.1.0.0: expected a non-empty note"),
        ('release_notes: {"1.0.0": "A.\\n\\nB."}', r"release_notes.1.0.0: expected one paragraph"),
        ("release_notes: [1.0.0]", r"release_notes: expected a mapping version -> note"),
        ("version: 1.0", r"version: expected a version MAJOR.MINOR.PATCH \(e.g. \"1.0.0\"\)"),
        ("version: 1.0.0-rc1", r"version: expected a version MAJOR.MINOR.PATCH"),
        ("version: 01.0.0", r"version: expected a version MAJOR.MINOR.PATCH"),
    ],
)
def test_bad_release_notes_and_versions_give_one_line_errors(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


def test_release_note_errors_name_the_layer_that_set_them(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        'extends: shapes-easy\nversion: 1.0.0\nrelease_notes: {"1.0.0": Base.}\n',
    )
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nrelease_notes: {1.0.0: Own.}\n")
    with pytest.raises(ConfigError, match=r"^--set: version: expected a version"):
        load_config(str(child), ["version=2"])
    # the --set that moved the version past the notes is named, and the file holding them
    with pytest.raises(ConfigError, match=r"^--set: release_notes: no note for .* 1.1.0; .*"
                       r"release_notes is set in .*child.yaml$"):  # fmt: skip
        load_config(str(child), ["version=1.1.0"])
    with pytest.raises(ConfigError, match=r"^--set: release_notes.1.0.0: newer than .* 0.5.0"):
        load_config(str(child), ["version=0.5.0"])
    with pytest.raises(ConfigError, match=r"^--set: release_notes.2.0.0: newer than"):
        load_config(str(child), ['release_notes={"2.0.0": Later.}'])


def test_release_notes_change_neither_the_config_hash_nor_the_data():
    import pickle

    from deepbench_hf import regenerate_row

    base = load_config("shapes-hard")
    edited = load_config(
        "shapes-hard", ['release_notes={"1.0.0": Reworded., "0.1.0": An earlier note.}']
    )
    assert edited.release_notes != base.release_notes
    assert edited.resolved != base.resolved
    assert edited.config_hash == base.config_hash
    for split, index in [("train", 0), ("test", 7)]:
        a, b = regenerate_row(base, split, index), regenerate_row(edited, split, index)
        assert a.keys() == b.keys()
        for key in a:  # pickles compare arrays (and NaNs) bit for bit
            assert pickle.dumps(a[key]) == pickle.dumps(b[key]), key
    # Anything else in the resolved config still changes the hash.
    assert load_config("shapes-hard", ["seed=1"]).config_hash != base.config_hash


@pytest.mark.parametrize(
    ("ref", "override"),
    [
        ("sky-easy", "objects.star.fwhm=0.01"),
        ("lensing-hard", "stars.fwhm={uniform: [0.1, 1]}"),
        ("lensing", "source.r_eff=0.01"),
    ],
)
def test_objects_narrower_than_half_a_pixel_are_refused(ref, override):
    """Below ~0.5 px the pixel integration of a Moffat star, or the ray-shooting of a lensed
    source, loses flux: refuse, naming the field and the allowed range."""
    with pytest.raises(ConfigError, match=r"(fwhm|r_eff).*\[0\.5, 100000\]"):
        load_config(ref, [override])


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("lensing", "psf={moffat: {fwhm: 2, beta: 1.2}}", r"psf.moffat.beta: the widest PSF "
         r"allowed \(fwhm 2 px, beta 1.2\) spreads 99.9 % of its light over a radius of 3.58e\+07 "
         r"px; allowed: at most 2048 px \(the larger of 2x the image's larger side and 2048 px\): "
         r"raise beta or lower fwhm"),
        ("sky-hard", "psf={gaussian: {fwhm: {uniform: [1, 20000]}}}", r"psf.gaussian.fwhm: the "
         r"widest PSF allowed has a FWHM of 20000 px; allowed: at most the image's larger side "
         r"\(64 px\)$"),
        ("sky-medium", "psf={moffat: {fwhm: 2, beta: 1.001}}",
         r"psf.moffat.beta: .* radius of inf px"),
        ("nbody-easy", "render={tracks: {image_size: 64, extent: 1.1, fwhm: 2.0, beta: 1.2}}",
         r"render.tracks.beta: the widest PSF allowed"),
    ],
)  # fmt: skip
def test_a_psf_wider_than_the_frame_allows_is_refused(name, override, message):
    """Its kernel (99.9 % radius) would outgrow memory: refused when the config is read."""
    with pytest.raises(ConfigError, match=r"^--set: " + message):
        load_config(name, [override])


@pytest.mark.parametrize("name", ["sky-medium", "sky-hard", "lensing", "lensing-hard"])
def test_ordinary_wide_psfs_and_small_frames_stay_allowed(name):
    load_config(name, ["psf={moffat: {fwhm: 10, beta: 2}}"])
    load_config(name, ["image_size=8"])
    # beyond 2048 px the limit grows with the frame: 4096 px images allow an 8192 px radius
    wide = "psf={moffat: {fwhm: 10, beta: 1.5}}"  # 99.9 % within 6524 px
    with pytest.raises(ConfigError, match=r"radius of 6.52e\+03 px; allowed: at most 2048 px"):
        load_config(name, [wide])
    load_config(name, [wide, "image_size=4096"])


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("sky-easy", "objects.elliptical.q=1e-4", r"objects.elliptical.q: expected a number in "
         r"\[0.05, 1\]"),
        ("sky-easy", "objects.spiral.q=0.05", r"objects.spiral.q: expected a number in \[0.1, 1\]"),
        ("sky-easy", "objects.spiral.bulge_q={uniform: [0.01, 1]}",
         r"objects.spiral.bulge_q.uniform: range \[0.01, 1\] leaves the allowed values"),
        ("lensing", "source.q=1e-4", r"source.q: expected a number in \[0.05, 1\]"),
        ("lensing", "lens.q=2e-4", r"lens.q: expected a number in \[0.05, 1\]"),
        ("sky-easy", "objects.elliptical={r_eff: 0.1, n: 0.5, q: 0.05, angle: 0}",
         r"objects.elliptical.q: q x r_eff can be 0.005 px \(q 0.05, r_eff 0.1 px\); allowed: "
         r"at least 0.3 px"),
        ("sky-hard", "objects.spiral.bulge_r_eff_ratio=0.01",
         r"objects.spiral.bulge_q: bulge_q x bulge r_eff \(bulge_r_eff_ratio x disc_scale\) "
         r"can be 0.018 px"),
        ("lensing", "lens_light.sersic.r_eff=0.2", r"lens_light.sersic.q: q x r_eff can be 0.1"),
        ("sky-medium", "psf={gaussian: {fwhm: 1290}}", r"psf.gaussian.fwhm: the widest PSF "
         r"allowed has a FWHM of 1290 px; allowed: at most the image's larger side \(64 px\)"),
        ("lensing", "lens_light.sersic.q=0.01", r"lens_light.sersic.q: expected a number in "
         r"\[0.05, 1\]"),
        ("sky-easy", "objects.flux=1e15 noise.ccd.gain=1e6",
         r"noise.ccd.gain: up to 1e\+21 e- could fall in one pixel .*allowed: below 1e\+18"),
    ],
)  # fmt: skip
def test_values_the_renderer_cannot_honour_are_refused(name, override, message):
    """Axis ratios below which the pixel integration loses the flux (or writes NaN), and CCD
    counts beyond numpy's Poisson sampler."""
    overrides = override.split(" ", 1) if override.startswith("objects.flux") else [override]
    with pytest.raises(ConfigError, match=r"^--set: " + message):
        load_config(name, overrides)


def test_a_repeated_count_in_a_choice_is_one_class():
    from deepbench_hf.kinds import get_kind

    config = load_config("shapes-hard", ["objects.count={choice: [2, 2, 3]}"])
    assert get_kind("shapes").class_names(config) == ["2", "3"]


def test_a_repeated_key_is_an_error_and_merge_keys_still_override(tmp_path):
    assert_one_line_error(
        tmp_path, "seed: 1\nseed: 2", r"invalid YAML at line 3: duplicate key 'seed'"
    )
    path = write(
        tmp_path,
        "merge.yaml",
        "extends: shapes-easy\n"
        "objects:\n"
        "  x_frac: &centre {uniform: [0.4, 0.6]}\n"
        "  y_frac: *centre\n"
        "  ellipse: {<<: {semi_major: 9, axis_ratio: 0.5}, axis_ratio: 0.7}\n",
    )
    objects = load_config(str(path)).resolved["objects"]
    assert objects["x_frac"] == objects["y_frac"] == {"uniform": [0.4, 0.6]}
    assert objects["ellipse"] == {"semi_major": 9, "axis_ratio": 0.7}
    # a merged mapping used again through its alias (PyYAML rewrites its keys in place)
    from deepbench_hf.config import _load_yaml

    assert _load_yaml("m: {<<: &b {x: 1, <<: {x: 2}}, y: 1}\nother: *b\n")["other"] == {"x": 1}
    # keys equal as read, not as written
    for twice in ("1: a\n1.0: b\n", "true: a\nTrue: b\n", "null: a\n~: b\n"):
        with pytest.raises(yaml.YAMLError, match="duplicate key"):
            _load_yaml(twice)


def test_alias_bombs_and_huge_values_give_short_one_line_errors(tmp_path):
    """Ten levels of ten aliases stand for 10^10 values ("billion laughs"): refused before any
    use; a long value (a huge list where a string belongs) is elided in the message."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert_one_line_error(
        tmp_path, "\n".join(lines), r"invalid YAML: it holds [\d,]+ values, each alias"
    )
    levels = ["k0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    with pytest.raises(ConfigError, match=r"^--set: description: value is not valid YAML"):
        load_config("shapes-easy", ["description={" + ", ".join(levels) + "}"])
    text = "description: [" + ", ".join(["0"] * 50_000) + "]"
    assert_one_line_error(tmp_path, text, r"description: expected a string, got \[0, 0")
    path = tmp_path / "bad.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    text = str(info.value)
    assert len(text) < 1100 and " characters) ... " in text
    # as it comes back from a worker process
    assert str(pickle.loads(pickle.dumps(info.value))) == text
    deep = "[" * 3000 + "]" * 3000  # beyond PyYAML's recursion
    assert_one_line_error(tmp_path, f"description: {deep}", r"invalid YAML: it nests .* too deep")


def test_a_file_that_is_not_utf8_is_a_one_line_error(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(
        ConfigError, match=r"binary\.yaml: not UTF-8 text \(byte 0xff at offset 0\)$"
    ):
        load_config(str(path))


def test_command_line_layers_apply_in_their_documented_order():
    """--seed (and --split-sizes) come after every --set: they win."""
    assert load_config("shapes-easy", ["seed=1"], seed=2).seed == 2
    from deepbench_hf.config import parse_override

    assert parse_override("noise=") == ("noise", None)
    assert parse_override(" seed =3") == ("seed", 3)


@pytest.mark.parametrize("name", [".hidden", "-x", "README.md", "readme.md"])
def test_config_names_that_would_clash_with_files_or_options_are_refused(tmp_path, name):
    path = write(tmp_path, "c.yaml", f"extends: shapes-easy\nname: '{name}'\n")
    with pytest.raises(ConfigError, match=r"name"):
        load_config(str(path))


def test_extends_takes_a_path_with_a_folder_whatever_its_suffix(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "sub/base.cfg", "extends: shapes-easy\nseed: 5\n")
    path = write(tmp_path, "mine.yaml", "extends: sub/base.cfg\n")  # a path: it has a folder
    assert load_config(str(path)).seed == 5
    path = write(tmp_path, "mine2.yaml", "extends: sub/base.yml\n")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(path))


def test_an_integer_and_a_float_of_the_same_value_hash_alike():
    one = load_config("nbody", ["G=1"])
    other = load_config("nbody", ["G=1.0"])
    assert one.config_hash == other.config_hash
    sky = load_config("sky-hard", ["noise.ccd.read_noise=5"])
    assert sky.config_hash == load_config("sky-hard", ["noise.ccd.read_noise=5.0"]).config_hash


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("shapes-easy", "shard_size=null", "shard_size"),
        ("nbody", "initial=none", "initial"),
        ("shapes-hard", "objects.kinds={rectangle: 0, polygon: 0, arc: 0, line: 0, ellipse: 0, "
         "circle: 0}", r"objects\.kinds: at least one weight must be > 0"),
    ],
)  # fmt: skip
def test_required_and_positive_settings_are_refused_empty(name, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(name, [override])


def test_a_zero_weight_is_allowed():
    config = load_config("shapes-hard", ["objects.kinds.rectangle=0"])
    assert config.resolved["objects"]["kinds"]["rectangle"] == 0
