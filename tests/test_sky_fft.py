"""The direct pocketfft calls of ``deepbench_hf.sky.fft`` give exactly ``scipy.fft``'s results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sp_fft

from deepbench_hf.sky import fft

SHAPES = [
    ((24, 24), (24, 24)),  # as is
    ((17, 23), (32, 40)),  # padded
    ((40, 36), (32, 30)),  # cropped
    ((20, 50), (32, 45)),  # padded rows, cropped columns
    ((3, 21, 19), (27, 25)),  # a batch of planes
]


@pytest.mark.parametrize(("size", "shape"), SHAPES)
def test_rfft2_and_irfft2_equal_scipy_bit_for_bit(size: tuple, shape: tuple) -> None:
    x = np.random.default_rng(7).lognormal(size=size)
    spectrum = fft.rfft2(x, shape)
    assert np.array_equal(spectrum, sp_fft.rfft2(x, shape))
    assert np.array_equal(fft.irfft2(spectrum, shape), sp_fft.irfft2(spectrum, shape))


def test_views_and_other_dtypes_equal_scipy() -> None:
    x = np.random.default_rng(8).normal(size=(30, 26))
    view = x.T[::2]  # not contiguous
    assert np.array_equal(fft.rfft2(view, (16, 32)), sp_fft.rfft2(view, (16, 32)))
    single = x.astype(np.float32)
    assert np.array_equal(fft.rfft2(single, (32, 32)), sp_fft.rfft2(single, (32, 32)))
    half = sp_fft.rfft2(single, (32, 32))  # complex64: scipy's own path
    assert np.array_equal(fft.irfft2(half, (32, 32)), sp_fft.irfft2(half, (32, 32)))


def test_without_the_binding_scipy_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fft, "_POCKETFFT", None)
    x = np.random.default_rng(9).normal(size=(12, 10))
    spectrum = fft.rfft2(x, (16, 16))
    assert np.array_equal(spectrum, sp_fft.rfft2(x, (16, 16)))
    assert np.array_equal(fft.irfft2(spectrum, (16, 16)), sp_fft.irfft2(spectrum, (16, 16)))


def test_empty_shapes_are_scipy_errors() -> None:
    x = np.ones((4, 4))
    with pytest.raises(ValueError):
        fft.rfft2(x, (4, 0))
