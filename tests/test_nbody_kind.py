"""The ``nbody`` kind: configs, exact round trips, physics of the stored rows, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import SMALL, digests, read_split, same_rows, small_config

from deepbench_hf import ConfigError, generate_rows, load_config, regenerate_row
from deepbench_hf.arrow import rows_to_table
from deepbench_hf.kinds import features_for
from deepbench_hf.nbody.energy import kinetic_energy, potential_energy, total_momentum
from deepbench_hf.nbody.integrators import simulate
from deepbench_hf.nbody.kind import lanes
from deepbench_hf.writer import build_config

CONFIGS = ("nbody-easy", "nbody", "nbody-hard")
# A variable number of bodies (nested List features) and the `final` rendering, kept short.
VARIABLE = (
    "name=nbody-variable",
    "initial.random_virial.n_bodies={randint: [3, 6]}",
    "n_steps=200",
    "save_every=20",
    "render={final: {image_size: 32, extent: 2.0}}",
    "dt=auto",
    "eta=0.01",
)


def variable_config():
    return small_config("nbody", *VARIABLE)


@pytest.fixture(scope="module")
def nbody_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small builds (num_proc=1) of the three named configs and the variable-N variant."""
    out = tmp_path_factory.mktemp("nbody") / "deepbench"
    for name in CONFIGS:
        # nbody: several shards per split (for the num_proc test); the others: one batch a split
        shard_size = 16 if name == "nbody" else 64
        build_config(small_config(name, shard_size=shard_size), out, num_proc=1, progress=False)
    build_config(variable_config(), out, num_proc=1, progress=False)
    return out


def load(nbody_dir: Path, name: str, monkeypatch) -> datasets.DatasetDict:
    monkeypatch.chdir(nbody_dir.parent)
    return datasets.load_dataset(nbody_dir.name, name, cache_dir=str(nbody_dir.parent / "cache"))


def numpy_rows(ds: datasets.Dataset) -> datasets.Dataset:
    """Rows as numpy, float64 kept: datasets' numpy format casts floats to float32 by default."""
    return ds.with_format("numpy", dtype=np.float64)


# --------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("name", [*CONFIGS, "nbody-variable"])
def test_load_dataset_returns_exact_features_and_rows(nbody_dir, monkeypatch, name):
    config = variable_config() if name == "nbody-variable" else small_config(name)
    config_name = config.name
    ds = load(nbody_dir, config_name, monkeypatch)
    expected = features_for(config)
    for split, n in SMALL.items():
        assert ds[split].features == expected
        assert list(ds[split].features) == list(expected)
        assert ds[split].num_rows == n
        # every row and column, as the shards hold them
        assert same_rows(ds[split].data.table, read_split(nbody_dir / config_name, split))
    fixed = isinstance(expected["positions"], datasets.Array3D)
    assert fixed == (name != "nbody-variable")
    schema = ds["test"].data.table.schema
    assert schema.field("times").type.value_type == "double"
    stored = ds["test"].data.table
    for index in (0, 5, 11):
        fresh = rows_to_table([regenerate_row(config, "test", index)], expected)
        assert same_rows(fresh, stored.take([index]))  # take: a copy with fresh offsets


def test_variable_n_rows_have_their_own_shapes(nbody_dir, monkeypatch):
    config = variable_config()
    rows = numpy_rows(load(nbody_dir, config.name, monkeypatch)["train"])
    counts = set()
    for row in rows:
        n = int(row["n_bodies"])
        counts.add(n)
        assert row["positions"].shape == (11, n, 3) and row["positions"].dtype == np.float64
        assert row["masses"].shape == (n,)
        # dt: auto is the per-system rule, so rows differ in dt and times
        np.testing.assert_array_equal(row["times"], row["dt"] * 20 * np.arange(11))
    assert len(counts) > 1
    dts = np.asarray(rows["dt"])
    assert len(np.unique(dts)) == len(dts)


# --------------------------------------------------------------------------------------------
# physics of the stored rows


@pytest.mark.parametrize("name", [*CONFIGS, "nbody-variable"])
def test_stored_energies_match_the_stored_state(nbody_dir, monkeypatch, name):
    rows = numpy_rows(load(nbody_dir, name, monkeypatch)["validation"])
    for row in rows:
        m, x, v = row["masses"], row["positions"], row["velocities"]
        g, eps = float(row["G"]), float(row["softening"])
        kin = kinetic_energy(m, v)
        pot = potential_energy(m, x, G=g, softening=eps)
        np.testing.assert_array_equal(row["kinetic_energy"], kin)
        np.testing.assert_array_equal(row["potential_energy"], pot)
        e = kin + pot
        rel = np.abs(e - e[0]) / abs(e[0])
        assert row["energy_error"] == rel.max() and row["energy_error_final"] == rel[-1]
        assert row["energy_error"] < 1e-2
        # centre-of-mass frame, momentum conserved to rounding
        assert np.abs(total_momentum(m, v)).max() < 1e-12
        # the integrator's own energies agree to rounding
        out = simulate(
            m, x[0], v[0], n_steps=1, dt=float(row["dt"]), G=g, softening=eps, save_every=1
        )
        assert out["kinetic"][0, 0] == pytest.approx(kin[0], rel=1e-13)
        assert out["potential"][0, 0] == pytest.approx(pot[0], rel=1e-13)


def kepler_relative_orbit(init: dict, times: np.ndarray) -> np.ndarray:
    """Analytic x2 - x1 at ``times`` from the stored Kepler elements (Kepler's equation)."""
    keys = ("eccentricity", "semi_major_axis", "period", "true_anomaly")
    e, a, p, f0 = (float(init[k]) for k in keys)
    e_anom0 = 2.0 * math.atan2(
        math.sqrt(1 - e) * math.sin(f0 / 2), math.sqrt(1 + e) * math.cos(f0 / 2)
    )
    mean = e_anom0 - e * math.sin(e_anom0) + 2.0 * math.pi * times / p
    ecc = mean.copy()
    for _ in range(60):  # Newton on E - e sin E = M
        ecc -= (ecc - e * np.sin(ecc) - mean) / (1.0 - e * np.cos(ecc))
    return np.stack([a * (np.cos(ecc) - e), a * math.sqrt(1 - e * e) * np.sin(ecc)], axis=-1)


def test_kepler_truth_agrees_with_the_trajectory(nbody_dir, monkeypatch):
    rows = numpy_rows(load(nbody_dir, "nbody-easy", monkeypatch)["train"])
    for row in rows:
        init = row["initial"]
        m, x, t = row["masses"], row["positions"], row["times"]
        rel = x[:, 1] - x[:, 0]
        # the stored masses, period and semi-major axis obey Kepler's third law and the energy
        a, p = float(init["semi_major_axis"]), float(init["period"])
        assert (m[0], m[1]) == (init["mass1"], init["mass2"])
        assert p == pytest.approx(2 * math.pi * math.sqrt(a**3 / m.sum()), rel=1e-12)
        energy = row["kinetic_energy"][0] + row["potential_energy"][0]
        assert a == pytest.approx(m[0] * m[1] / (2 * abs(energy)), rel=1e-9)
        # measured period: successive apocentre passages (angle pi, where the motion is slowest)
        theta = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
        assert np.all(np.diff(theta) > 0)  # counter-clockwise
        k0 = math.ceil((theta[0] - math.pi) / (2 * math.pi))
        k1 = math.floor((theta[-1] - math.pi) / (2 * math.pi))
        assert k1 - k0 >= 1  # at least one full orbit between two apocentres
        crossing = [np.interp(math.pi + 2 * math.pi * k, theta, t) for k in (k0, k1)]
        assert (crossing[1] - crossing[0]) / (k1 - k0) == pytest.approx(p, rel=2e-3)
        # and the whole trajectory is the analytic Kepler orbit
        assert np.abs(rel - kepler_relative_orbit(init, t)).max() < 1e-4 * a
        assert 2 * a == pytest.approx(np.hypot(*rel.T).min() + np.hypot(*rel.T).max(), rel=2e-3)


def test_rendered_images_are_centred_on_the_centre_of_mass(nbody_dir, monkeypatch):
    for name in ("nbody-easy", "nbody-variable"):
        rows = numpy_rows(load(nbody_dir, name, monkeypatch)["train"])
        for row in rows:
            image = row["image"].astype(np.float64)
            x = row["positions"]
            h, w = image.shape
            extent = 1.1 if name == "nbody-easy" else 2.0
            # only frames holding every body (and its light)
            if np.abs(x[..., :2]).max() > 0.7 * extent:
                continue
            assert image.sum() == pytest.approx(1.0, abs=2e-3)
            rows_c, cols_c = np.indices(image.shape)
            centroid = (np.sum(cols_c * image), np.sum(rows_c * image))
            # the centre of mass is the origin, projected onto the frame centre
            assert centroid == pytest.approx(((w - 1) / 2, (h - 1) / 2), abs=2e-2)


# --------------------------------------------------------------------------------------------
# determinism


def test_num_proc_and_repeat_builds_are_bit_identical(tmp_path, nbody_dir):
    config = small_config("nbody")
    two = tmp_path / "two" / "ds"
    build_config(config, two, num_proc=2, progress=False)
    reference = {k: v for k, v in digests(nbody_dir).items() if k.startswith("nbody/")}
    assert len(reference) == 5  # train: 3 shards, validation: 1, test: 1
    assert digests(two) == reference


def test_batch_equals_alone_even_where_the_kernel_would_tile():
    # 48 bodies in 3-D: a batch of 40 would tile the pair buffer, so the kind caps it
    assert lanes(48, 3) < 40 <= lanes(12, 3)
    config = load_config(
        "nbody",
        ["initial.random_virial.n_bodies=48", "n_steps=6", "save_every=3", "dt=auto"],
        splits={"train": 40},
    )
    features = features_for(config)
    batch = [row for _, row in generate_rows(config, "train", 0, 40)]
    for index in (0, 17, 36, 39):
        alone = regenerate_row(config, "train", index)
        assert same_rows(rows_to_table([alone], features), rows_to_table([batch[index]], features))


@pytest.mark.parametrize("integrator", ["leapfrog", "leapfrog_dkd", "yoshida4"])
def test_per_system_dt_runs_each_system_as_alone(integrator):
    from deepbench_hf.nbody.initial_conditions import random_virial

    m, x, v = random_virial(np.random.default_rng(3), n_systems=7, n_bodies=4, softening=0.05)
    dt = 1e-3 * (1.0 + np.arange(7) / 7)
    kwargs = dict(n_steps=30, softening=0.05, integrator=integrator, save_every=10)
    batch = simulate(m, x, v, dt=dt, **kwargs)
    assert batch["times"].shape == (7, 4)
    for b in (0, 3, 6):
        alone = simulate(m[b], x[b], v[b], dt=float(dt[b]), **kwargs)
        np.testing.assert_array_equal(batch["times"][b], alone["times"])
        for key in ("positions", "velocities", "kinetic"):
            np.testing.assert_array_equal(batch[key][b], alone[key][0])
    with pytest.raises(ValueError, match=r"per-system dt must have shape \(7,\)"):
        simulate(m, x, v, dt=dt[:3], **kwargs)
    with pytest.raises(ValueError, match="positive and finite for every system"):
        simulate(m, x, v, dt=-dt, **kwargs)


def test_same_seed_same_rows_other_seed_other_rows():
    a = small_config("nbody-easy", "n_steps=100", "save_every=10")
    b = small_config("nbody-easy", "n_steps=100", "save_every=10", "seed=1")
    features = features_for(a)
    first = rows_to_table([row for _, row in generate_rows(a, "train", 0, 8)], features)
    again = rows_to_table([row for _, row in generate_rows(a, "train", 0, 8)], features)
    other = rows_to_table([row for _, row in generate_rows(b, "train", 0, 8)], features)
    assert same_rows(first, again) and not same_rows(first, other)


def test_shards_are_independent_of_shard_size(tmp_path):
    a = small_config("nbody", "n_steps=100", "save_every=10", shard_size=7)
    b = small_config("nbody", "n_steps=100", "save_every=10", shard_size=1000)
    build_config(a, tmp_path / "a", progress=False)
    build_config(b, tmp_path / "b", progress=False)
    assert same_rows(
        read_split(tmp_path / "a" / "nbody", "train"), read_split(tmp_path / "b" / "nbody", "train")
    )


# --------------------------------------------------------------------------------------------
# initial-condition families


@pytest.mark.parametrize(
    ("name", "setting", "n_dims", "n"),
    [
        ("plummer", "n_bodies=8", 3, 8),
        ("figure_eight", "mass=2.0", 2, 3),
        ("lagrange", "side={uniform: [1, 2]}", 3, 3),
        ("pythagorean", None, 2, 3),
        ("kepler", "eccentricity=0.5", 3, 2),
    ],
)
def test_every_family_generates(name, setting, n_dims, n):
    # switching family: first the family name (replaces the parent's mapping), then its fields
    family = [f"initial={name}", *([f"initial.{name}.{setting}"] if setting else [])]
    config = load_config(
        "nbody",
        [*family, f"n_dims={n_dims}", "n_steps=40", "save_every=20", "dt=auto", "softening=0.01"],
        splits={"train": 3},
    )
    rows = [row for _, row in generate_rows(config, "train", 0, 3)]
    for row in rows:
        assert row["initial"]["family"] == name and row["n_bodies"] == n
        assert row["positions"].shape == (3, n, n_dims)
        assert row["energy_error"] < 1e-3
        if name in ("figure_eight", "lagrange", "kepler"):
            assert row["initial"]["period"] > 0
        else:
            assert math.isnan(row["initial"]["period"])
    if name == "lagrange":  # the drawn side differs per row
        assert rows[0]["initial"]["side"] != rows[1]["initial"]["side"]


def test_figure_eight_returns_after_one_period():
    config = load_config(
        "nbody",
        [
            "initial=figure_eight",
            "n_dims=2",
            "integrator=yoshida4",
            "softening=0",
            f"dt={6.32591398 / 2000}",
            "n_steps=2000",
            "save_every=2000",
        ],
        splits={"train": 1},
    )
    row = regenerate_row(config, "train", 0)
    np.testing.assert_allclose(row["positions"][-1], row["positions"][0], atol=1e-6)


# --------------------------------------------------------------------------------------------
# config errors


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["initial=plummer", "n_dims=2"], r"initial\.plummer: the Plummer sphere is 3-D only"),
        (["softening=-0.1"], r"softening: expected a number in \[0, "),
        (["n_steps=100", "save_every=7"], r"save_every: must divide n_steps \(100\); got 7"),
        (["dt=fast"], r"dt: expected auto or a number in \[1e-12, 1e\+12\], got 'fast'"),
        (["dt=0"], r"dt: expected auto or a number in \[1e-12, "),
        (["dt=1e300"], r"dt: expected auto or a number in \[1e-12, 1e\+12\], got 1e\+300"),
        (["initial=lagrange", "initial.lagrange.side=1e-300"], r"side: expected a number in \["),
        (["initial=kepler", "initial.kepler.period=1e-300"], r"period: expected a number in \["),
        (["render=tracks", "render.tracks.extent=1e-300"], r"extent: expected a number in \["),
        (["initial=plummer", "initial.plummer.max_radius=0.01"], r"max_radius: expected a "),
        (["n_dims=4"], r"n_dims: expected an integer in \[2, 3\]"),
        (["integrator=euler"], r"integrator: expected one of leapfrog, leapfrog_dkd, yoshida4"),
        (["initial.random_virial.mass_range={low: 2, high: 1}"], r"mass_range: low can exceed"),
        (["initial.random_virial.n_bodies=1"], r"n_bodies: expected an integer in \[2, "),
        (["initial=kepler", "initial.kepler.eccentricity=1.0"], r"initial\.kepler\.eccentricity: "),
        (["initial=comet"], r"initial: expected exactly one of kepler, random_virial, plummer"),
        (["render=movie"], r"render: expected exactly one of final, tracks, none"),
        (["balanced=true"], r"balanced: nbody configs have no label"),
    ],
)
def test_config_errors_are_one_line_and_name_the_field(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config("nbody", overrides)
    assert "\n" not in str(info.value)


def test_energy_errors_are_nan_when_the_initial_energy_is_zero():
    """virial_ratio 2 makes K = |W|: E(0) often rounds to exactly 0, where |dE| / |E(0)| is
    undefined (both columns NaN; energy_error_final was inf)."""
    config = load_config(
        "nbody", ["initial.random_virial.virial_ratio=2", "n_steps=20", "save_every=10"]
    )
    zero = 0
    for index in range(6):
        row = regenerate_row(config, "train", index)
        e0 = row["kinetic_energy"][0] + row["potential_energy"][0]
        errors = (row["energy_error"], row["energy_error_final"])
        if e0 == 0:
            zero += 1
            assert all(math.isnan(e) for e in errors), errors
        else:
            assert all(math.isfinite(e) for e in errors), errors
    assert zero > 0  # rows 1, 2 and 5 of this seed


def test_a_system_leaving_float_range_stops_the_build(monkeypatch):
    """A system whose state became NaN/inf (an unsoftened collision, too long a step) stops the
    build with one line naming the example, instead of writing NaN rows."""
    from deepbench_hf.errors import BuildError
    from deepbench_hf.nbody import kind

    real = kind.simulate

    def blown_up(*args, **kwargs):
        out = real(*args, **kwargs)
        out["positions"][1, -1, 0, 0] = np.inf
        return out

    monkeypatch.setattr(kind, "simulate", blown_up)
    config = load_config("nbody", ["n_steps=20", "save_every=10"])
    with pytest.raises(
        BuildError,
        match=r"nbody train example 1 \(seed \d+\): positions left float range at output 2 "
        r"\(dt 0\.002, softening 0\.05\); increase the softening or reduce dt$",
    ):
        list(generate_rows(config, "train", 0, 3))


def test_an_infinite_energy_stops_the_build_too(monkeypatch):
    """Finite positions can still give W = -inf (two bodies at the same point, no softening)."""
    from deepbench_hf.errors import BuildError
    from deepbench_hf.nbody import kind

    real = kind.simulate

    def collided(*args, **kwargs):
        out = real(*args, **kwargs)
        out["positions"][0, 1, 1] = out["positions"][0, 1, 0]  # bodies 0 and 1 coincide
        return out

    monkeypatch.setattr(kind, "simulate", collided)
    config = load_config("nbody", ["n_steps=20", "save_every=10", "softening=0"])
    with pytest.raises(
        BuildError, match=r"example 0 .*: potential_energy left float range at output 1"
    ):
        list(generate_rows(config, "train", 0, 2))


def test_projection_puts_x_on_columns_and_y_on_rows():
    """col = (W-1)/2 + x s, row = (H-1)/2 + y s, s = min(H, W) / (2 extent); a frame not centred
    on its bodies' centre of mass has its light centroid at their mass-weighted position."""
    from deepbench_hf.nbody.render import project, render_final

    s = 48 / (2 * 2.0)
    np.testing.assert_array_equal(
        project(np.array([[0.5, -0.2, 0.1]]), 48, 64, 2.0), [[31.5 + 0.5 * s, 23.5 - 0.2 * s]]
    )
    masses = np.array([1.0, 3.0])
    positions = np.array([[0.5, 0.0], [0.0, -0.2]])
    image = render_final(masses, positions, 48, 64, {"extent": 2.0, "fwhm": 2.0, "beta": 4.765})
    rows, cols = np.mgrid[0:48, 0:64]
    total = image.sum(dtype=np.float64)
    centroid = ((image * cols).sum() / total, (image * rows).sum() / total)
    expected = (masses[:, None] * project(positions, 48, 64, 2.0)).sum(axis=0) / masses.sum()
    np.testing.assert_allclose(centroid, expected, atol=0.02)


@pytest.mark.parametrize(
    ("family", "settings"),
    [
        ("figure_eight", ["initial.figure_eight.mass=0.7"]),
        ("lagrange", ["initial.lagrange.mass1=1.0", "initial.lagrange.mass2=2.0",
                      "initial.lagrange.side=1.3"]),
    ],
)  # fmt: skip
def test_stored_periods_hold_for_any_G(family, settings):
    """With G = 2.5 the stored ``initial.period`` is one period of the integrated orbit: the
    system returns to its start (a period without G, or with sqrt(G m) on the wrong side, does
    not)."""
    base = [f"initial={family}", "G=2.5", "n_dims=2", "integrator=yoshida4", "softening=0"]
    probe = load_config("nbody", [*base, *settings], splits={"train": 1})
    period = regenerate_row(probe, "train", 0)["initial"]["period"]
    config = load_config(
        "nbody",
        [*base, *settings, f"dt={period / 4000}", "n_steps=4000", "save_every=4000"],
        splits={"train": 1},
    )
    row = regenerate_row(config, "train", 0)
    np.testing.assert_allclose(row["positions"][-1], row["positions"][0], atol=1e-6)


def test_kepler_truth_holds_for_any_G():
    """G = 2.5: period and semi-major axis obey P = 2 pi sqrt(a^3 / (G M)), and the energy
    E = -G m1 m2 / (2 a); the relative orbit's angular momentum is +mu sqrt(G M a (1 - e^2))
    (counter-clockwise)."""
    from deepbench_hf.nbody import energy

    config = load_config("nbody-easy", ["G=2.5", "n_steps=10", "save_every=10"])
    for index in range(4):
        row = regenerate_row(config, "train", index)
        init, m = row["initial"], row["masses"]
        a, p, e, total = init["semi_major_axis"], init["period"], init["eccentricity"], m.sum()
        assert p == pytest.approx(2 * math.pi * math.sqrt(a**3 / (2.5 * total)), rel=1e-12)
        e0 = row["kinetic_energy"][0] + row["potential_energy"][0]
        assert e0 == pytest.approx(-2.5 * m[0] * m[1] / (2 * a), rel=1e-9)
        lz = energy.angular_momentum(m, row["positions"][0], row["velocities"][0])
        mu = m[0] * m[1] / total
        assert lz == pytest.approx(mu * math.sqrt(2.5 * total * a * (1 - e * e)), rel=1e-12)


def test_a_track_exposure_weights_every_moment_equally():
    """A body moving uniformly for 30 px over three outputs: its track image equals a dense
    reference (10^5 equally weighted instants, the same deposit and Moffat kernel) to 4e-3 of
    the peak; doubling the weight of the end points (no trapezoid rule) is ~10 % off there."""
    from deepbench_hf.nbody.render import _cloud_in_cell, render_tracks
    from deepbench_hf.sky.psf import PSF, convolve

    h, w, opts = 48, 64, {"extent": 2.0, "fwhm": 2.0, "beta": 4.765}
    scale = min(h, w) / (2 * opts["extent"])
    t = np.linspace(0.0, 1.0, 3)
    track = np.stack([-1.2 + 2.5 * t, np.full(3, 0.3)], axis=-1)[:, None, :]  # (T, N, D)
    image = render_tracks(np.array([1.0]), track, h, w, opts)
    psf = PSF(fwhm=opts["fwhm"], kind="moffat", beta=opts["beta"])
    k = psf.radius
    u = (np.arange(100_000) + 0.5) / 100_000
    cols = (w - 1) / 2 + (-1.2 + 2.5 * u) * scale + k
    rows = np.full_like(u, (h - 1) / 2 + 0.3 * scale + k)
    canvas = _cloud_in_cell(
        np.stack([cols, rows], axis=-1), np.full(u.size, 1 / u.size), h + 2 * k, w + 2 * k
    )
    reference = convolve(canvas, psf, mode="same")[k : k + h, k : k + w]
    assert np.abs(image - reference).max() < 4e-3 * reference.max()
