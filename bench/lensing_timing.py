"""Time simulated strong-lens images: deepbench_hf.lensing vs lenstronomy's ImageModel.

Both pipelines make the same 64x64 images, on one core:

* lens mass SIE + external shear (shear centred on the lens), ray-shot on a ``k x k``
  sub-sampled grid (``k = --oversample``, lenstronomy's ``supersampling_factor``);
* an elliptical Sérsic source and an elliptical Sérsic lens light, both evaluated on the
  sub-sampled grid and averaged to pixels;
* a Gaussian PSF truncated at 5 sigma (ours: the separable kernel applied as two banded matrix
  products, ``--psf matmul``, the default, or ``scipy.signal.fftconvolve``, ``--psf fft`` --
  the same linear operation; lenstronomy: its ``GAUSSIAN`` PSF, ``scipy.ndimage.gaussian_filter``);
* noise: Poisson on (image + sky) plus Gaussian read noise, drawn with numpy's
  ``Generator.poisson`` / ``Generator.normal`` for **both** pipelines.

Ours, in two variants: **U** (uniform) renders ``--batch`` lenses per call with ``k x k``
sub-pixels everywhere, exactly as lenstronomy (all parameters broadcast over the batch; by default
about 64k sub-pixels per call, which keeps the working arrays in the L2 cache) in float32; **A**
(adaptive, what the ``lensing`` kind does) renders one image per call with
``deepbench_hf.lensing.adaptive.integrate_pixels``: a ray per pixel centre and the cell-average
rule where the image is smooth at the pixel scale, ``k x k`` sub-pixel rays (the uniform values)
elsewhere, and Sérsic cusps integrated further (its step 4). lenstronomy renders one image per
``ImageModel.image`` call (its model objects are built once, outside the timed loop), in its
default uniform mode and, as **LA**, in its adaptive mode (``compute_mode='adaptive'``) given for
each image the pixels A refines (one model per image, built outside the timing). Accuracy: all are
compared, noiseless, with uniform ``16 x 16`` sub-sampling (``err`` / ``med``: max / median
|difference| / peak over the interior pixels of 8 images; U's error is lenstronomy's, as U equals
lenstronomy to ~1e-10), and the share of pixels A sub-samples is printed. The rates with and
without the noise step are printed side by side; the variants are timed in interleaved rounds and
the best round is kept, which makes the ratio robust to other load on the core.

The Sérsic profile: ``deepbench_hf.sky.profiles.sersic`` if importable (``--sersic sky``),
otherwise a local point evaluation (``--sersic local``, the default), with the product-averaged
radius ``R = sqrt(q x'^2 + y'^2 / q)`` and total flux ``flux`` (lenstronomy's ``SERSIC_ELLIPSE``
convention; its ``amp`` is the surface brightness at ``R_sersic``). Before timing, the
noiseless images of both codes are compared (with lenstronomy's approximate ``b_n = 1.9992 n -
0.3271`` in ours for that check only; interior pixels, as the PSF edge handling differs).

The script pins itself to core 0 with one BLAS/OpenMP thread, and re-executes itself once with
``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` raised so that numpy temporaries are not
handed back to the OS and page-faulted again on every call (this speeds up both pipelines;
``--system-malloc`` disables it). Rates use the CPU time of the process by default
(``--timer cpu``; equal to the wall time on an idle core, and robust to other load on it).

Usage: ``python bench/lensing_timing.py [--oversample 1 2 4] [--batch 0] [--seconds 4]
[--psf matmul|fft] [--sersic local|sky] [--float64] [--timer cpu|wall] [--system-malloc]``.
"""

from __future__ import annotations

import sys

from _machine import keep_freed_memory, pin_to_one_core

if __name__ == "__main__":
    keep_freed_memory()
pin_to_one_core()

import argparse  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import fftconvolve  # noqa: E402
from scipy.special import gamma as gamma_fn  # noqa: E402
from scipy.special import gammaincinv  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepbench_hf.lensing.adaptive import integrate_pixels, near  # noqa: E402
from deepbench_hf.lensing.mass import phi_q2_ellipticity, ray_shoot  # noqa: E402
from deepbench_hf.lensing.raytrace import downsample, lensed_image, pixel_grid  # noqa: E402

SIZE = 64
SKY = 20.0  # sky background, counts / px
READ_NOISE = 4.0  # counts
PSF_FWHM = 2.0  # px
TRUNCATION = 5.0  # PSF truncation in sigma


# --------------------------------------------------------------------------------------------
# local Sérsic (used unless --sersic sky)
# --------------------------------------------------------------------------------------------
def sersic_bn(n: np.ndarray) -> np.ndarray:
    """Exact ``b_n``: ``gammainc(2n, b_n) = 1/2``."""
    return gammaincinv(2.0 * np.asarray(n, dtype=np.float64), 0.5)


def lenstronomy_bn(n: np.ndarray) -> np.ndarray:
    """lenstronomy's approximation ``b_n = 1.9992 n - 0.3271``."""
    return np.maximum(1.9992 * np.asarray(n, dtype=np.float64) - 0.3271, 1e-5)


def sersic_amp(*, flux, r_eff, n, bn) -> np.ndarray:
    """Surface brightness at ``r_eff`` of a Sérsic of total ``flux`` (product-averaged radius)."""
    n = np.asarray(n, dtype=np.float64)
    return flux / (2.0 * np.pi * n * r_eff**2 * np.exp(bn) * bn ** (-2.0 * n) * gamma_fn(2.0 * n))


def local_sersic(x, y, *, flux, x0, y0, r_eff, n, q, angle, bn=None):
    """Elliptical Sérsic surface brightness (counts/px²) at ``(x, y)`` (px), vectorised.

    ``I(R) = I_e exp(-b_n ((R / r_eff)^(1/n) - 1))`` with ``R = sqrt(q x'^2 + y'^2 / q)``,
    ``x'`` along the major axis at ``angle`` (rad, from +x towards +y). Computed in the dtype
    of ``x`` (float32 stays float32), see :func:`prepared_sersic`.
    """
    dtype = np.result_type(np.asarray(x).dtype, np.asarray(y).dtype, np.float32)
    params = dict(flux=flux, x0=x0, y0=y0, r_eff=r_eff, n=n, q=q, angle=angle, bn=bn)
    return prepared_sersic(dtype=dtype, **params)(x, y)


def prepared_sersic(*, flux, x0, y0, r_eff, n, q, angle, bn=None, dtype=np.float32) -> Callable:
    """:func:`local_sersic` with its parameter-only coefficients computed once: returns
    ``f(x, y)`` evaluating ``exp(c0 - b_n exp(log(R^2 / r_eff^2) / (2 n)))`` in ``dtype``."""
    n = np.asarray(n, dtype=np.float64)
    bn = sersic_bn(n) if bn is None else np.asarray(bn, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    inv = 1.0 / np.asarray(r_eff, dtype=np.float64) ** 2
    cast = lambda v: np.asarray(v, dtype=dtype)  # noqa: E731
    qa = cast((q * c * c + s * s / q) * inv)
    qb = cast(2.0 * c * s * (q - 1.0 / q) * inv)
    qc = cast((q * s * s + c * c / q) * inv)
    cx, cy, half_n, minus_bn = cast(x0), cast(y0), cast(0.5 / n), cast(-bn)
    c0 = cast(bn + np.log(sersic_amp(flux=flux, r_eff=r_eff, n=n, bn=bn)))

    def evaluate(x, y):
        dx = x - cx
        dy = y - cy
        r2 = qb * (dx * dy)
        r2 += qa * (dx * dx)
        r2 += qc * (dy * dy)
        with np.errstate(divide="ignore"):
            np.log(r2, out=r2)
        r2 *= half_n
        np.exp(r2, out=r2)
        r2 *= minus_bn
        r2 += c0
        return np.exp(r2, out=r2)

    return evaluate


def get_sersic(kind: str) -> tuple[Callable, str]:
    if kind == "sky":
        from deepbench_hf.sky.profiles import sersic  # type: ignore[import-not-found]

        return sersic, "deepbench_hf.sky.profiles.sersic"
    return local_sersic, "local (bench) Sérsic"


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------
def draw_params(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    c = (SIZE - 1) / 2.0
    p = {
        "theta_e": rng.uniform(8.0, 14.0, count),
        "x0": c + rng.normal(0.0, 1.0, count),
        "y0": c + rng.normal(0.0, 1.0, count),
        "q": rng.uniform(0.5, 1.0, count),
        "angle": rng.uniform(0.0, np.pi, count),
        "gamma1": rng.normal(0.0, 0.05, count),
        "gamma2": rng.normal(0.0, 0.05, count),
        "src_flux": rng.uniform(2e3, 2e4, count),
        "src_r_eff": rng.uniform(1.0, 3.0, count),
        "src_n": rng.uniform(1.0, 4.0, count),
        "src_q": rng.uniform(0.5, 1.0, count),
        "src_angle": rng.uniform(0.0, np.pi, count),
        "ll_flux": rng.uniform(2e4, 1e5, count),
        "ll_r_eff": rng.uniform(4.0, 8.0, count),
        "ll_n": rng.uniform(2.0, 5.0, count),
        "ll_q": rng.uniform(0.5, 1.0, count),
        "ll_angle": rng.uniform(0.0, np.pi, count),
    }
    p["src_x0"] = p["x0"] + rng.normal(0.0, 2.0, count)
    p["src_y0"] = p["y0"] + rng.normal(0.0, 2.0, count)
    return p


def psf_kernel() -> np.ndarray:
    sigma = PSF_FWHM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    r = round(TRUNCATION * sigma)
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


# --------------------------------------------------------------------------------------------
# our pipeline
# --------------------------------------------------------------------------------------------
def convolve(img: np.ndarray, kernel: np.ndarray, psf: str) -> np.ndarray:
    """'same'-size convolution with zero padding of a batch ``(B, H, W)`` by a separable kernel.

    ``fft``: ``scipy.signal.fftconvolve``. ``matmul``: the same linear operation written as two
    banded matrix products ``G_y @ img @ G_x^T`` with the 1-D kernel ``g`` (``kernel = outer(g,
    g)``); identical to rounding, and several times faster for 64x64 images.
    """
    if psf == "fft":
        return fftconvolve(img, kernel[None].astype(img.dtype), mode="same", axes=(-2, -1))
    h, w = img.shape[-2:]
    g = kernel.sum(axis=1)  # the 1-D kernel (kernel = outer(g, g), normalised)
    return band_matrix(g, h, img.dtype) @ img @ band_matrix(g, w, img.dtype).T


_BANDS: dict = {}


def band_matrix(g: np.ndarray, n: int, dtype) -> np.ndarray:
    """``M[i, j] = g[j - i + r]`` for ``|j - i| <= r``: 'same' convolution as a matrix (cached)."""
    key = (g.tobytes(), n, np.dtype(dtype).str)
    if key not in _BANDS:
        _BANDS[key] = _band_matrix(g, n, dtype)
    return _BANDS[key]


def _band_matrix(g: np.ndarray, n: int, dtype) -> np.ndarray:
    r = len(g) // 2
    i = np.arange(n)
    d = i[None, :] - i[:, None] + r
    return np.where((d >= 0) & (d < len(g)), g[np.clip(d, 0, len(g) - 1)], 0.0).astype(dtype)


PSF_NAMES = {"fft": "scipy.signal.fftconvolve", "matmul": "separable banded matmul"}


def ours_model(
    p, sl: slice, *, k: int, sersic: Callable, kernel: np.ndarray, dtype, bn=None, psf="matmul"
):
    """Noiseless PSF-convolved images for the lenses ``p[name][sl]`` (shape (B, 64, 64))."""
    b = {name: v[sl][:, None, None] for name, v in p.items()}

    def src_bn(name):
        return None if bn is None else bn(b[name])

    def source(x, y):
        kw = dict(
            flux=b["src_flux"],
            x0=b["src_x0"],
            y0=b["src_y0"],
            r_eff=b["src_r_eff"],
            n=b["src_n"],
            q=b["src_q"],
            angle=b["src_angle"],
        )
        if bn is not None:
            kw["bn"] = src_bn("src_n")
        return sersic(x, y, **kw)

    img = lensed_image(
        source,
        shape=(SIZE, SIZE),
        theta_e=p["theta_e"][sl],
        x0=p["x0"][sl],
        y0=p["y0"][sl],
        q=p["q"][sl],
        angle=p["angle"][sl],
        gamma1=p["gamma1"][sl],
        gamma2=p["gamma2"][sl],
        oversample=k,
        dtype=dtype,
    )
    x, y = pixel_grid(shape=(SIZE, SIZE), oversample=k, dtype=dtype)
    kw = dict(
        flux=b["ll_flux"],
        x0=b["x0"],
        y0=b["y0"],
        r_eff=b["ll_r_eff"],
        n=b["ll_n"],
        q=b["ll_q"],
        angle=b["ll_angle"],
    )
    if bn is not None:
        kw["bn"] = src_bn("ll_n")
    img += downsample(sersic(x, y, **kw), oversample=k)
    return convolve(img, kernel, psf)


def _adaptive(p, i: int, k: int, sersic: Callable, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pixel integrals (float64) of lens ``i``'s lensed source plus lens light
    (:func:`deepbench_hf.lensing.adaptive.integrate_pixels`: centre samples + cell-average rule,
    ``k x k`` sub-pixels only where the image is not smooth at the pixel scale and within 1.5 px
    of the lens centre), and the mask of the sub-sampled pixels."""
    v = {name: float(a[i]) for name, a in p.items()}
    lens = {name: v[name] for name in ("theta_e", "x0", "y0", "q", "angle", "gamma1", "gamma2")}
    src = {name: v[f"src_{name}"] for name in ("flux", "x0", "y0", "r_eff", "n", "q", "angle")}
    light = {name: v[f"ll_{name}"] for name in ("flux", "r_eff", "n", "q", "angle")}

    if sersic is local_sersic:  # coefficients once per image, not once per call
        source = prepared_sersic(dtype=dtype, **src)
        lens_light = prepared_sersic(dtype=dtype, x0=v["x0"], y0=v["y0"], **light)
    else:
        source = functools.partial(sersic, **src)
        lens_light = functools.partial(sersic, x0=v["x0"], y0=v["y0"], **light)

    def surface(x, y):
        out = source(*ray_shoot(x, y, **lens))
        out += lens_light(x, y)
        return out

    return integrate_pixels(
        surface,
        shape=(SIZE, SIZE),
        oversample=k,
        refine=near((SIZE, SIZE), v["x0"], v["y0"], 1.5),
        dtype=dtype,
    )


def ours_adaptive_model(
    p, i: int, *, k: int, sersic: Callable, kernel: np.ndarray, dtype, psf="matmul"
) -> np.ndarray:
    """Noiseless PSF-convolved image of lens ``i``, adaptive sub-sampling, shape (1, 64, 64)."""
    img, _ = _adaptive(p, i, k, sersic, dtype)
    return convolve(img.astype(dtype)[None], kernel, psf)


def add_noise(model: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson (image + sky) + Gaussian read noise, sky subtracted; counts per pixel."""
    lam = np.maximum(model, 0.0) + SKY
    return rng.poisson(lam) - SKY + rng.normal(0.0, READ_NOISE, model.shape)


# --------------------------------------------------------------------------------------------
# lenstronomy pipeline
# --------------------------------------------------------------------------------------------
class Lenstronomy:
    """lenstronomy's ``ImageModel`` for the bench's scene. ``supersampled`` (a boolean (H, W)
    mask) selects its adaptive mode: ``k x k`` sub-pixels only in those pixels, the pixel centre
    elsewhere (``compute_mode='adaptive'``, PSF convolution at pixel scale, as ours; that mode
    takes the PSF as a pixel kernel, :func:`psf_kernel`, instead of ``GAUSSIAN``)."""

    def __init__(self, k: int, supersampled: np.ndarray | None = None) -> None:
        from lenstronomy.Data.imaging_data import ImageData
        from lenstronomy.Data.psf import PSF
        from lenstronomy.ImSim.image_model import ImageModel
        from lenstronomy.LensModel.lens_model import LensModel
        from lenstronomy.LightModel.light_model import LightModel

        data = ImageData(
            image_data=np.zeros((SIZE, SIZE)),
            ra_at_xy_0=0.0,
            dec_at_xy_0=0.0,
            transform_pix2angle=np.eye(2),
        )
        psf = PSF(psf_type="GAUSSIAN", fwhm=PSF_FWHM, pixel_size=1.0, truncation=TRUNCATION)
        numerics: dict[str, object] = {"supersampling_factor": k}
        if supersampled is not None:  # its adaptive mode needs a pixelised kernel (the same)
            psf = PSF(psf_type="PIXEL", kernel_point_source=psf_kernel())
            numerics.update(
                compute_mode="adaptive",
                supersampled_indexes=supersampled,
                supersampling_convolution=False,
            )
        self.model = ImageModel(
            data,
            psf,
            LensModel(["SIE", "SHEAR"]),
            LightModel(["SERSIC_ELLIPSE"]),
            LightModel(["SERSIC_ELLIPSE"]),
            kwargs_numerics=numerics,
        )

    @staticmethod
    def kwargs(p, i: int):
        e1, e2 = phi_q2_ellipticity(angle=p["angle"][i], q=p["q"][i])
        kl = [
            {
                "theta_E": p["theta_e"][i],
                "e1": float(e1),
                "e2": float(e2),
                "center_x": p["x0"][i],
                "center_y": p["y0"][i],
            },
            {
                "gamma1": p["gamma1"][i],
                "gamma2": p["gamma2"][i],
                "ra_0": p["x0"][i],
                "dec_0": p["y0"][i],
            },
        ]
        out = [kl]
        for pre, cx, cy in (("src", "src_x0", "src_y0"), ("ll", "x0", "y0")):
            e1, e2 = phi_q2_ellipticity(angle=p[f"{pre}_angle"][i], q=p[f"{pre}_q"][i])
            bn = lenstronomy_bn(p[f"{pre}_n"][i])
            amp = sersic_amp(
                flux=p[f"{pre}_flux"][i], r_eff=p[f"{pre}_r_eff"][i], n=p[f"{pre}_n"][i], bn=bn
            )
            out.append(
                [
                    {
                        "amp": float(amp),
                        "R_sersic": p[f"{pre}_r_eff"][i],
                        "n_sersic": p[f"{pre}_n"][i],
                        "e1": float(e1),
                        "e2": float(e2),
                        "center_x": p[cx][i],
                        "center_y": p[cy][i],
                    }
                ]
            )
        return out

    def image(self, kw) -> np.ndarray:
        return self.model.image(kw[0], kw[1], kw[2])


# --------------------------------------------------------------------------------------------
TIMERS = {"cpu": time.process_time, "wall": time.perf_counter}


def measure(
    fns: dict[str, Callable[[], int]], seconds: float, rounds: int = 5, timer: str = "cpu"
) -> dict[str, float]:
    """Best images/s of each function; the functions are timed in interleaved rounds of about
    ``seconds / rounds / len(fns)`` each, so that a transient load on the core (other processes)
    biases none of them. ``timer='cpu'`` counts the CPU time of this (single-threaded) process,
    which equals the wall time on an idle core and ignores time stolen by other processes."""
    clock = TIMERS[timer]
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, 0.0)
    slot = seconds / rounds / len(fns)
    for _ in range(rounds):
        for name, fn in fns.items():
            n, t0 = 0, clock()
            while True:
                n += fn()
                dt = clock() - t0
                if dt >= slot:
                    break
            best[name] = max(best[name], n / dt)
    return best


class Ours:
    """Our pipeline over consecutive batches of the parameter table."""

    def __init__(self, p, *, k, batch, sersic, kernel, dtype, psf, noise_rng) -> None:
        self.p, self.k, self.batch, self.sersic, self.kernel = p, k, batch, sersic, kernel
        self.dtype, self.psf, self.rng = dtype, psf, noise_rng
        n = len(p["theta_e"])
        self.starts = list(range(0, n - batch + 1, batch)) or [0]
        self.i = 0

    def __call__(self, noise: bool) -> int:
        s = self.starts[self.i % len(self.starts)]
        self.i += 1
        img = ours_model(
            self.p,
            slice(s, s + self.batch),
            k=self.k,
            sersic=self.sersic,
            kernel=self.kernel,
            dtype=self.dtype,
            psf=self.psf,
        )
        if noise:
            img = add_noise(img, self.rng)
        return img.shape[0]


class OursAdaptive:
    """Our adaptive pipeline, one image per call, cycling through the parameter table."""

    def __init__(self, p, *, k, sersic, kernel, dtype, psf, noise_rng) -> None:
        self.p, self.k, self.sersic, self.kernel = p, k, sersic, kernel
        self.dtype, self.psf, self.rng, self.i = dtype, psf, noise_rng, 0

    def __call__(self, noise: bool) -> int:
        img = ours_adaptive_model(
            self.p,
            self.i % len(self.p["theta_e"]),
            k=self.k,
            sersic=self.sersic,
            kernel=self.kernel,
            dtype=self.dtype,
            psf=self.psf,
        )
        self.i += 1
        if noise:
            img = add_noise(img, self.rng)
        return 1


class Theirs:
    """lenstronomy's ImageModel, one image per call, cycling through the parameter table."""

    def __init__(self, lt: Lenstronomy, kws: list[list], noise_rng: np.random.Generator) -> None:
        self.lt, self.kws, self.rng, self.i = lt, kws, noise_rng, 0

    def __call__(self, noise: bool) -> int:
        img = self.lt.image(self.kws[self.i % len(self.kws)])
        self.i += 1
        if noise:
            img = add_noise(img, self.rng)
        return 1


class TheirsAdaptive:
    """lenstronomy's adaptive mode, one ``ImageModel`` per image (built outside the timing, with
    the pixels our adaptive pipeline refines for that image as its ``supersampled_indexes``)."""

    def __init__(
        self, models: list[Lenstronomy], kws: list[list], noise_rng: np.random.Generator
    ) -> None:
        self.models, self.kws, self.rng, self.i = models, kws, noise_rng, 0

    def __call__(self, noise: bool) -> int:
        j = self.i % len(self.models)
        img = self.models[j].image(self.kws[j])
        self.i += 1
        if noise:
            img = add_noise(img, self.rng)
        return 1


def errors(
    images: np.ndarray, reference: np.ndarray, inner: tuple[slice, ...]
) -> tuple[float, float]:
    """Worst image's max and median |images - reference| over the ``inner`` pixels, each as a
    fraction of that reference image's peak."""
    diff = np.abs(images - reference)[inner] / reference.max(axis=(1, 2))[:, None, None]
    return float(diff.max()), float(np.median(diff, axis=(1, 2)).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oversample", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument(
        "--batch",
        type=int,
        default=0,
        help="lenses per call of our pipeline (0: auto, about 64k sub-pixels per call)",
    )
    ap.add_argument("--seconds", type=float, default=4.0, help="timing budget per oversampling")
    ap.add_argument("--sersic", choices=("local", "sky"), default="local")
    ap.add_argument("--psf", choices=("matmul", "fft"), default="matmul")
    ap.add_argument("--float64", action="store_true", help="run our pipeline in float64")
    ap.add_argument("--timer", choices=("cpu", "wall"), default="cpu")
    ap.add_argument(
        "--system-malloc", action="store_true", help="keep glibc's default malloc trimming"
    )
    args = ap.parse_args()

    sersic, sersic_name = get_sersic(args.sersic)
    dtype = np.float64 if args.float64 else np.float32
    rng = np.random.default_rng(12345)
    n_par = 64
    p = draw_params(rng, n_par)
    kernel = psf_kernel()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"{SIZE}x{SIZE} images: SIE+SHEAR, Sérsic source + Sérsic lens light, Gaussian PSF "
        f"(FWHM {PSF_FWHM} px, {TRUNCATION} sigma), Poisson+Gaussian noise; cores {cores}"
    )
    print(
        f"ours: {np.dtype(dtype).name}, PSF by {PSF_NAMES[args.psf]}, Sérsic = {sersic_name}; "
        f"lenstronomy: one image per ImageModel.image call; {args.timer} time"
    )
    print(
        "U = ours, uniform k x k sub-sampling (as lenstronomy); A = ours, adaptive (k x k only "
        "where the image is not smooth at the pixel scale)"
    )
    print(
        "LA = lenstronomy's adaptive mode given, per image, the pixels A refines (its other pixels "
        "are sampled at their centre; at k = 1 it is the uniform mode; LA's reference uses "
        "lenstronomy's b_n); err / med = max / "
        "median of |image - uniform 16x16| / peak over the interior pixels of 8 noiseless images"
    )
    header = (
        f"{'k':>2} {'batch':>5} | {'U img/s':>8} {'A img/s':>8} {'lenstr':>7} {'LA':>6}"
        f" {'U/lt':>5} {'A/lt':>5} {'A/LA':>5} | {'no noise: U':>11} {'A':>6} {'lenstr':>7}"
        f" {'LA':>6} {'U/lt':>5} {'A/lt':>5} {'A/LA':>5} | {'U vs lt':>7} |"
        f" {'err U=lt':>8} {'err A':>7} {'err LA':>7} | {'med U=lt':>8} {'med A':>7}"
        f" {'med LA':>7} | {'A px':>5}"
    )
    print(header)
    print("-" * len(header))
    for k in args.oversample:
        batch = args.batch or max(1, 65536 // (SIZE * SIZE * k * k))
        lt = Lenstronomy(k)
        kws = [lt.kwargs(p, i) for i in range(n_par)]

        # correctness check (noiseless, lenstronomy's b_n in ours, interior pixels)
        ref = np.array([lt.image(kws[i]) for i in range(4)])
        mine = ours_model(
            p,
            slice(0, 4),
            k=k,
            sersic=local_sersic,
            kernel=kernel,
            dtype=np.float64,
            bn=lenstronomy_bn,
            psf=args.psf,
        )
        m = round(TRUNCATION * PSF_FWHM / 2.3548) + 1
        inner = (slice(None), slice(m, -m), slice(m, -m))
        check = np.max(np.abs(mine[inner] - ref[inner])) / np.max(np.abs(ref[inner]))

        # accuracy against uniform 16 x 16 sub-sampling (noiseless, our exact b_n)
        exact = dict(sersic=local_sersic, kernel=kernel, dtype=np.float64, psf=args.psf)
        ref16 = ours_model(p, slice(0, 8), k=16, **exact)
        uni = ours_model(p, slice(0, 8), k=k, **exact)
        ada = np.concatenate([ours_adaptive_model(p, i, k=k, **exact) for i in range(8)])
        err_u, med_u = errors(uni, ref16, inner)
        err_a, med_a = errors(ada, ref16, inner)
        masks = [_adaptive(p, i, k, local_sersic, dtype)[1] for i in range(n_par)]
        refined = np.mean([mask.mean() for mask in masks[:8]])
        # at k = 1 nothing is refined: LA is lenstronomy's uniform mode
        lt_ada = [Lenstronomy(k, mask) for mask in masks] if k > 1 else [lt] * n_par
        ref16_lt = ours_model(p, slice(0, 8), k=16, bn=lenstronomy_bn, **exact)
        la = np.array([lt_ada[i % len(lt_ada)].image(kws[i]) for i in range(8)])
        err_la, med_la = errors(la, ref16_lt, inner)

        common = dict(k=k, sersic=sersic, kernel=kernel, dtype=dtype, psf=args.psf)
        ours = Ours(p, batch=batch, noise_rng=np.random.default_rng(7), **common)
        adaptive = OursAdaptive(p, noise_rng=np.random.default_rng(9), **common)
        theirs = Theirs(lt, kws, np.random.default_rng(8))
        theirs_ada = TheirsAdaptive(lt_ada, kws, np.random.default_rng(10))
        r = measure(
            {
                "ours": lambda o=ours: o(True),
                "ada": lambda a=adaptive: a(True),
                "theirs": lambda t=theirs: t(True),
                "lta": lambda t=theirs_ada: t(True),
                "ours0": lambda o=ours: o(False),
                "ada0": lambda a=adaptive: a(False),
                "theirs0": lambda t=theirs: t(False),
                "lta0": lambda t=theirs_ada: t(False),
            },
            args.seconds,
            timer=args.timer,
        )
        print(
            f"{k:>2} {batch:>5} | {r['ours']:>8.0f} {r['ada']:>8.0f} {r['theirs']:>7.0f}"
            f" {r['lta']:>6.0f} {r['ours'] / r['theirs']:>4.1f}x {r['ada'] / r['theirs']:>4.1f}x"
            f" {r['ada'] / r['lta']:>4.1f}x | {r['ours0']:>11.0f} {r['ada0']:>6.0f}"
            f" {r['theirs0']:>7.0f} {r['lta0']:>6.0f} {r['ours0'] / r['theirs0']:>4.1f}x"
            f" {r['ada0'] / r['theirs0']:>4.1f}x {r['ada0'] / r['lta0']:>4.1f}x |"
            f" {check:>7.0e} | {err_u:>8.1e} {err_a:>7.1e} {err_la:>7.1e} |"
            f" {med_u:>8.1e} {med_a:>7.1e} {med_la:>7.1e} | {refined:>4.0%}"
        )
    zero = np.zeros((16, SIZE, SIZE), dtype=dtype)
    nrng = np.random.default_rng(0)
    r_n = measure(
        {"noise": lambda: (add_noise(zero, nrng), 16)[1]}, args.seconds / 4, timer=args.timer
    )["noise"]
    print(
        f"numpy noise alone (Generator.poisson + Generator.normal, {SIZE}x{SIZE}): {r_n:.0f} "
        f"img/s = {1e6 / r_n:.0f} us per image, a cost shared by both pipelines"
    )


if __name__ == "__main__":
    main()
