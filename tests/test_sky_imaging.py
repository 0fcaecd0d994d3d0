"""The image-formation checks of a sky or lensing config (PSF, CCD counts, Sérsic minor axes) and
the PSF's row columns and draw order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepbench_hf.distributions import Constant, Uniform
from deepbench_hf.errors import ConfigError
from deepbench_hf.sky import imaging
from deepbench_hf.sky.psf import psf_reach


def test_psf_columns_record_beta_for_a_moffat_only():
    moffat = imaging.psf_from_params("moffat", 2.0, 3.0)
    gaussian = imaging.psf_from_params("gaussian", 2.0, math.nan)
    assert imaging.psf_columns(moffat) == {"psf_kind": "moffat", "psf_fwhm": 2.0, "psf_beta": 3.0}
    columns = imaging.psf_columns(gaussian)
    assert columns["psf_kind"] == "gaussian" and columns["psf_fwhm"] == 2.0
    assert math.isnan(columns["psf_beta"])
    none = imaging.psf_columns(None)
    assert (
        none["psf_kind"] == "none" and math.isnan(none["psf_fwhm"]) and math.isnan(none["psf_beta"])
    )


def test_the_psf_draws_its_fwhm_then_its_beta():
    params = {"fwhm": Uniform(1.0, 3.0), "beta": Uniform(2.0, 5.0)}
    psf = imaging.sample_psf(("moffat", params), np.random.default_rng(4))
    rng = np.random.default_rng(4)
    fwhm, beta = params["fwhm"].sample(rng), params["beta"].sample(rng)
    assert (psf.fwhm, psf.beta) == (fwhm, beta)


def test_a_psf_wider_than_the_frame_is_refused():
    imaging.check_psf_reach("gaussian", {"fwhm": 64.0}, (64, 64), source="s", path="psf.gaussian")
    with pytest.raises(ConfigError, match=r"psf.gaussian.fwhm: the widest PSF allowed has a FWHM"):
        imaging.check_psf_reach(
            "gaussian", {"fwhm": Uniform(2.0, 65.0)}, (64, 64), source="s", path="psf.gaussian"
        )


def test_the_psf_reach_limit_follows_the_larger_side_of_the_frame():
    shape = (1100, 3000)  # 2 x the larger side: 6000 px; 2 x the smaller: 2200 px
    beta = 1.45
    fwhm = 3.0
    assert 2 * min(shape) < psf_reach("moffat", fwhm, beta) < 2 * max(shape)
    params = {"fwhm": fwhm, "beta": beta}
    imaging.check_psf_reach("moffat", params, shape, source="s", path="psf.moffat")
    with pytest.raises(ConfigError, match=r"psf.moffat.beta: .* at most 2200 px"):
        imaging.check_psf_reach("moffat", params, (1100, 1100), source="s", path="psf.moffat")


@pytest.mark.parametrize(
    ("gain", "sky", "max_signal"),
    [
        (Uniform(1.0, 1e6), 0.0, 1e13),  # the largest gain overflows, the smallest would not
        (Constant(1e6), 1e12, 1.0),  # a sky-dominated overflow
    ],
)
def test_ccd_counts_beyond_the_poisson_sampler_are_refused(gain, sky, max_signal):
    spec = ("ccd", {"gain": gain, "sky_level": sky, "read_noise": 0.0})
    with pytest.raises(ConfigError, match=r"noise.ccd.gain: up to .* e- could fall in one pixel"):
        imaging.check_ccd_counts(spec, max_signal, source="s")
    imaging.check_ccd_counts(("ccd", {**spec[1], "gain": 1e-3}), max_signal, source="s")


def test_the_minor_axis_check_uses_the_smallest_q_and_r_eff():
    imaging.check_minor_axis(Uniform(0.5, 1.0), Uniform(0.6, 10.0), source="s", q_path="o.q")
    with pytest.raises(ConfigError, match=r"o.q: q x r_eff can be 0.25 px \(q 0.5, r_eff 0.5 px\)"):
        imaging.check_minor_axis(Uniform(0.5, 1.0), Uniform(0.5, 10.0), source="s", q_path="o.q")
