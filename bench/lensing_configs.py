"""The shipped lensing configs against lenstronomy on the very same scenes, one core.

``lensing_timing.py`` compares the two ray-shooting pipelines on a fixed bench scene. This script
answers the user's question instead: how fast does deepbench-hf make a config's images, and how
fast would lenstronomy make the same images? For each config (default ``lensing-easy``,
``lensing``, ``lensing-hard``) it draws the first ``--scenes`` training examples exactly as a
build does and times them in CPU time, each scene made by each pipeline in turn (paired, so
that the VM's drifting speed affects all three alike), in several passes:

* **rows**: :meth:`LensingKind.generate` -- a whole dataset row: noisy image, ``image_clean``,
  variance, ``lensed_source``, arc mask, magnification (which needs a second, unlensed render),
  source S/N, the point-source solve and every truth column;
* **images**: only what makes the noisy image, from the drawn scene and the solved point-source
  images (which lenstronomy gets for free too): :func:`render_components` with ``truth=False``
  and noise: without the unlensed render of a lens's source, which only the ``magnification``
  column needs, nor the separate convolution of the lensed source (``lensed_source``);
* **lenstronomy**: ``ImageModel.image`` of the same scene with the config's ``oversample`` as its
  ``supersampling_factor`` (its default, regular mode), then the same noise function
  (:func:`apply_noise`) on the same noise stream;
* **lenstronomy's PSF update** (configs with a PSF): ``ImageModel.update_psf`` with the scene's
  kernel, lenstronomy's way to change the PSF of a model, which a build pays at every image as
  the configs draw the PSF per image (it rebuilds lenstronomy's numerics: the supersampled grid
  and the convolution with the kernel's transform). Ours pays the equivalent, the transform of
  each image's kernel, in **images** already. ``img/lt'`` compares images with lenstronomy's
  image and update together; ``img/lt``, with the image alone (the strict lower bound).

The scene in lenstronomy (one ``ImageModel`` per scene, built outside the timing, as the PSF and
the number of field stars change from scene to scene; only the PSF update is timed, above):

* lens: ``SIE`` + ``SHEAR`` centred on the lens (``e1, e2`` from ``angle, q``); non-lenses have no
  lens model;
* Sérsic source and lens light: ``SERSIC_ELLIPSE``. Its ``R_sersic`` is the product-averaged
  radius and its ``b_n`` the approximation ``b' = 1.9992 n - 0.3271``; ``R_sersic = sqrt(q) r_eff
  (b' / b)^n`` and ``amp = I_e exp(b - b')`` make its profile identical to ours;
* field stars: ``UNLENSED`` point sources (lenstronomy has no Moffat light profile; ours are
  pixel-integrated Moffat stars of FWHM ~1 px, so the images differ around them);
* quasar images: ``LENSED_POSITION`` at our solved positions, ``point_amp = flux |mu|``
  (lenstronomy is spared the lens-equation solve);
* PSF: ``PIXEL`` with our kernel (``NONE`` without PSF), applied at the pixel scale
  (``supersampling_convolution=False``), as ours was before the lensing configs 3.0.0; ours now
  adds the supersampled correction of sharp light (:mod:`deepbench_hf.lensing.sharp`), so
  **lt-ss** times lenstronomy's own remedy too: ``supersampling_convolution=True`` with our PSF
  sampled every ``1/k`` px (``point_source_supersampling_factor = k``) and
  ``supersampling_kernel_size`` = 3 FWHM each side, the like-for-like comparison.

Before timing, the noiseless images of both are compared over the interior (pixels at least a PSF
radius + 2 from the edges, where lenstronomy, which renders no light from outside the frame,
agrees with ours): the max and median ``|ours - lenstronomy| / peak`` of the worst scene.

Usage: ``python bench/lensing_configs.py [CONFIG ...] [--scenes 48] [--rounds 10]``.
"""

from __future__ import annotations

import sys

from _machine import cpu_model, keep_freed_memory, load_average, pin_to_one_core

if __name__ == "__main__":
    keep_freed_memory()
pin_to_one_core()

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepbench_hf.config import BuildConfig, load_config  # noqa: E402
from deepbench_hf.generate import make_example  # noqa: E402
from deepbench_hf.kinds import get_kind  # noqa: E402
from deepbench_hf.lensing.kind import CLASS_NAMES  # noqa: E402
from deepbench_hf.lensing.mass import phi_q2_ellipticity  # noqa: E402
from deepbench_hf.lensing.render import render_components  # noqa: E402
from deepbench_hf.lensing.scene import (  # noqa: E402
    LensScene,
    PointImages,
    sample_scene,
    solve_point_source,
)
from deepbench_hf.seeding import Example  # noqa: E402
from deepbench_hf.sky import cusp as cusp_module  # noqa: E402
from deepbench_hf.sky import profiles as profiles_module  # noqa: E402
from deepbench_hf.sky import psf as psf_module  # noqa: E402
from deepbench_hf.sky import sharp as sharp_module  # noqa: E402
from deepbench_hf.sky.imaging import apply_noise  # noqa: E402
from deepbench_hf.sky.profiles import sersic_amplitude, sersic_bn  # noqa: E402

DEFAULT_CONFIGS = ("lensing-easy", "lensing", "lensing-hard")


# --------------------------------------------------------------------------------------------
# our pipeline
# --------------------------------------------------------------------------------------------
def scene_of(config: BuildConfig, example: Example) -> LensScene:
    """The scene :meth:`LensingKind.generate` draws for ``example``."""
    h, w = config.params["image_size"]["height"], config.params["image_size"]["width"]
    hint = None if example.label_hint is None else CLASS_NAMES[example.label_hint] == "lens"
    return sample_scene(config.params, example.scene_rng(), h, w, lens_hint=hint)


def our_image(
    config: BuildConfig, example: Example, scene: LensScene, images: PointImages
) -> np.ndarray:
    """The noisy image of ``example`` (a row's ``image`` column) from its drawn scene and solved
    point-source images, as lenstronomy gets them."""
    p = config.params
    shape = (p["image_size"]["height"], p["image_size"]["width"])
    rendered = render_components(
        scene, shape=shape, oversample=p["oversample"], point_images=images, truth=False
    )
    return apply_noise(p["noise"], rendered.image_clean, example.noise_rng()).image


# --------------------------------------------------------------------------------------------
# lenstronomy
# --------------------------------------------------------------------------------------------
def lenstronomy_sersic(
    *, flux: float, x0: float, y0: float, r_eff: float, n: float, q: float, angle: float
) -> dict[str, float]:
    """``SERSIC_ELLIPSE`` keyword arguments of our Sérsic profile (same surface brightness)."""
    b = float(sersic_bn(n))
    b_lt = 1.9992 * n - 0.3271
    e1, e2 = phi_q2_ellipticity(angle=angle, q=q)
    return {
        "amp": float(sersic_amplitude(flux=flux, r_eff=r_eff, n=n, q=q)) * math.exp(b - b_lt),
        "R_sersic": math.sqrt(q) * r_eff * (b_lt / b) ** n,
        "n_sersic": n,
        "e1": float(e1),
        "e2": float(e2),
        "center_x": x0,
        "center_y": y0,
    }


class LenstronomyScene:
    """lenstronomy's ``ImageModel`` of one scene and the keyword arguments of its ``image``."""

    def __init__(self, scene: LensScene, images: PointImages, shape: tuple[int, int], k: int):
        from lenstronomy.Data.imaging_data import ImageData
        from lenstronomy.Data.psf import PSF
        from lenstronomy.ImSim.image_model import ImageModel
        from lenstronomy.LensModel.lens_model import LensModel
        from lenstronomy.LightModel.light_model import LightModel
        from lenstronomy.PointSource.point_source import PointSource

        data = ImageData(
            image_data=np.zeros(shape),
            ra_at_xy_0=0.0,
            dec_at_xy_0=0.0,
            transform_pix2angle=np.eye(2),
        )
        self.kernel = None if scene.psf is None else np.array(scene.psf.kernel())
        if self.kernel is None:
            psf = PSF(psf_type="NONE")
        else:
            psf = PSF(psf_type="PIXEL", kernel_point_source=self.kernel)

        self.kw_lens: list[dict[str, float]] = []
        lens_models: list[str] = []
        if scene.is_lens:
            e1, e2 = phi_q2_ellipticity(angle=scene.angle, q=scene.q)
            lens_models = ["SIE", "SHEAR"]
            self.kw_lens = [
                {
                    "theta_E": scene.theta_e,
                    "e1": float(e1),
                    "e2": float(e2),
                    "center_x": scene.lens_x,
                    "center_y": scene.lens_y,
                },
                {
                    "gamma1": scene.gamma1,
                    "gamma2": scene.gamma2,
                    "ra_0": scene.lens_x,
                    "dec_0": scene.lens_y,
                },
            ]
        self.kw_source = [
            lenstronomy_sersic(
                flux=scene.source_flux,
                x0=scene.source_x,
                y0=scene.source_y,
                r_eff=scene.source_r_eff,
                n=scene.source_n,
                q=scene.source_q,
                angle=scene.source_angle,
            )
        ]
        light_models: list[str] = []
        self.kw_light: list[dict[str, float]] = []
        if scene.lens_light is not None:
            flux, r_eff, n, q, angle = scene.lens_light
            light_models.append("SERSIC_ELLIPSE")
            self.kw_light.append(
                lenstronomy_sersic(
                    flux=flux, x0=scene.lens_x, y0=scene.lens_y, r_eff=r_eff, n=n, q=q, angle=angle
                )
            )
        # lenstronomy has no Moffat light profile: field stars become unlensed point sources
        # (PSF images, cheaper than our pixel-integrated Moffat stamps of FWHM ~1 px)
        ps_models: list[str] = []
        self.kw_ps: list[dict[str, np.ndarray]] = []
        if len(images.x):
            ps_models.append("LENSED_POSITION")
            self.kw_ps.append(
                {
                    "ra_image": images.x,
                    "dec_image": images.y,
                    "point_amp": scene.ps_flux * np.abs(images.magnification),
                }
            )
        for x, y, flux, _fwhm, _beta in scene.stars:
            ps_models.append("UNLENSED")
            self.kw_ps.append(
                {"ra_image": np.array([x]), "dec_image": np.array([y]), "point_amp": [flux]}
            )
        point_source = PointSource(ps_models) if ps_models else None
        self.model = ImageModel(
            data,
            psf,
            LensModel(lens_models),
            LightModel(["SERSIC_ELLIPSE"]),
            LightModel(light_models),
            point_source,
            kwargs_numerics={"supersampling_factor": k, "supersampling_convolution": False},
        )
        # The same scene convolved on the k x k supersampled grid within 3 FWHM of each pixel
        # (lenstronomy's supersampling_kernel_size; the rest at the pixel scale): its way to
        # resolve what the pixel lattice aliases, as our sharp-light correction does.
        self.model_ss = None
        if scene.psf is not None:
            fine = supersampled_kernel(scene.psf, k)
            size = min(2 * math.ceil(3.0 * scene.psf.fwhm) + 1, self.kernel.shape[0])
            fine_psf = PSF(
                psf_type="PIXEL", kernel_point_source=fine, point_source_supersampling_factor=k
            )
            self.model_ss = ImageModel(
                data,
                fine_psf,
                LensModel(lens_models),
                LightModel(["SERSIC_ELLIPSE"]),
                LightModel(light_models),
                point_source,
                kwargs_numerics={
                    "supersampling_factor": k,
                    "supersampling_convolution": True,
                    "supersampling_kernel_size": size,
                },
            )

    def image(self, supersampled: bool = False) -> np.ndarray:
        """The noiseless image (counts per pixel), convolved at the pixel scale or (if the
        scene has a PSF) on the supersampled grid near each pixel."""
        model = self.model_ss if supersampled and self.model_ss is not None else self.model
        return model.image(self.kw_lens, self.kw_source, self.kw_light, self.kw_ps or None)


def supersampled_kernel(psf: Any, k: int) -> np.ndarray:
    """Our PSF sampled every ``1/k`` px over its kernel's extent, odd-sized, summing to 1."""
    n = psf.radius * k
    d = np.arange(-n, n + 1) / k
    values = psf.profile(d[:, None] ** 2 + d[None, :] ** 2)
    return values / values.sum()


# --------------------------------------------------------------------------------------------
# Caches keyed by per-image parameters (PSF FWHM and beta, Sérsic n, cusp radius), which a build
# misses at nearly every image: cleared (untimed) before each of our calls, as the 48 scenes
# repeat over the passes. Kept: the PSF kernel itself (and its radius), which lenstronomy is
# handed ready-made too (keeping it leaves ~23 us of our per-row work untimed). Cleared: its
# transform, which lenstronomy ('fft_static' convolution) computes once per ImageModel, i.e.
# once per scene, when its per-scene ImageModel is built untimed.
_PER_IMAGE_CACHES = (
    psf_module._band,
    psf_module._kernel_rfft,
    profiles_module._bn_scalar,
    profiles_module._sersic_rho,
    cusp_module._shoot_pattern,
    sharp_module._tapered_kernel,
    sharp_module._tapered_share,
    sharp_module._kernel_spectrum,
)


def clear_caches() -> None:
    """Forget every per-image cached value (see :data:`_PER_IMAGE_CACHES`)."""
    for cached in _PER_IMAGE_CACHES:
        cached.cache_clear()


def measure_paired(
    fns: dict[str, Callable[[Any], object]],
    items: list[Any],
    rounds: int,
    cold: frozenset[str] = frozenset(),
) -> dict[str, list[float]]:
    """Images per CPU second of each function in each of ``rounds`` passes over ``items``.

    Within a pass every item is made by every function in turn (the order rotating from item to
    item), each call timed alone, so that the functions share the (drifting) state of the machine
    at the scale of one image rather than of seconds: ratios taken within a pass compare like
    with like. The functions named in ``cold`` run after :func:`clear_caches` (untimed)."""
    names = list(fns)
    for name in names:
        fns[name](items[0])  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        gc.collect()
        gc.disable()  # no collector pause billed to whichever call triggers it
        try:
            for i, item in enumerate(items):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    if name in cold:
                        clear_caches()
                    t0 = time.process_time()
                    fns[name](item)
                    spent[name] += time.process_time() - t0
        finally:
            gc.enable()
        for name in names:
            rates[name].append(len(items) / spent[name])
    return rates


def compare(
    config: BuildConfig,
    scenes: list[LensScene],
    solved: list[PointImages],
    models: list[LenstronomyScene],
    supersampled: bool = False,
) -> tuple[float, float]:
    """Worst max and median ``|ours - lenstronomy| / peak`` over the interior, noiseless."""
    p = config.params
    shape = (p["image_size"]["height"], p["image_size"]["width"])
    worst_max = worst_med = 0.0
    for scene, images, model in zip(scenes, solved, models, strict=True):
        ours = render_components(
            scene, shape=shape, oversample=p["oversample"], point_images=images
        ).image_clean
        m = (scene.psf.radius if scene.psf is not None else 0) + 2
        theirs = model.image(supersampled)
        diff = np.abs(ours.astype(np.float64) - theirs)[m:-m, m:-m] / ours.max()
        worst_max = max(worst_max, float(diff.max()))
        worst_med = max(worst_med, float(np.median(diff)))
    return worst_max, worst_med


def run(name: str, count: int, rounds: int) -> str:
    config = load_config(name)
    p = config.params
    shape = (p["image_size"]["height"], p["image_size"]["width"])
    kind = get_kind(config.kind)
    examples = [make_example(config, "train", i) for i in range(count)]
    scenes = [scene_of(config, example) for example in examples]
    solved = [solve_point_source(scene) for scene in scenes]
    models = [
        LenstronomyScene(scene, images, shape, p["oversample"])
        for scene, images in zip(scenes, solved, strict=True)
    ]
    err_max, err_med = compare(config, scenes[:8], solved[:8], models[:8])
    ss_max, ss_med = compare(config, scenes[:8], solved[:8], models[:8], supersampled=True)

    noise = p["noise"]

    def rows(item: tuple[Example, LensScene, PointImages, LenstronomyScene]) -> object:
        return kind.generate(config, item[0])

    def images(item: tuple[Example, LensScene, PointImages, LenstronomyScene]) -> object:
        return our_image(config, *item[:3])

    def theirs(item: tuple[Example, LensScene, PointImages, LenstronomyScene]) -> object:
        example, model = item[0], item[3]
        return apply_noise(noise, model.image().astype(np.float32), example.noise_rng())

    def theirs_ss(item: tuple[Example, LensScene, PointImages, LenstronomyScene]) -> object:
        example, model = item[0], item[3]
        image = model.image(supersampled=True).astype(np.float32)
        return apply_noise(noise, image, example.noise_rng())

    def their_psf(item: tuple[Example, LensScene, PointImages, LenstronomyScene]) -> object:
        from lenstronomy.Data.psf import PSF

        model = item[3]
        if model.kernel is None:
            return model
        model.model.update_psf(PSF(psf_type="PIXEL", kernel_point_source=model.kernel))
        return model

    items = list(zip(examples, scenes, solved, models, strict=True))
    fns = {"rows": rows, "images": images, "lenstronomy": theirs}
    with_psf = any(model.kernel is not None for model in models)
    if with_psf:
        fns["psf"] = their_psf
        fns["lt_ss"] = theirs_ss
    rates = measure_paired(fns, items, rounds, cold=frozenset({"rows", "images"}))
    lt = rates["lenstronomy"]
    # images per second of image + PSF update: their times per image add
    lt_psf = (
        [1.0 / (1.0 / a + 1.0 / b) for a, b in zip(lt, rates["psf"], strict=True)]
        if with_psf
        else lt
    )

    def ratios(ours: list[float], theirs: list[float]) -> str:
        r = [a / b for a, b in zip(ours, theirs, strict=True)]
        return f"{statistics.median(r):>6.1f}x {min(r):>5.1f}-{max(r):<5.1f}"

    med = {name: statistics.median(values) for name, values in rates.items()}
    if with_psf:
        ss = (
            f" {med['lt_ss']:>6.1f} | {ratios(rates['images'], rates['lt_ss'])} |"
            f" {ss_max:>8.1e} {ss_med:>8.1e}"
        )
    else:
        ss = f" {'-':>6} | {'(no PSF)':>19} | {'-':>8} {'-':>8}"
    return (
        f"{name:<13} {p['oversample']:>2} | {med['rows']:>6.0f} {med['images']:>6.0f}"
        f" {med['lenstronomy']:>6.1f} {statistics.median(lt_psf):>6.1f} |"
        f" {ratios(rates['rows'], lt)} | {ratios(rates['images'], lt)} |"
        f" {ratios(rates['images'], lt_psf)} | {err_max:>8.1e} {err_med:>8.1e} |{ss}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS))
    ap.add_argument("--scenes", type=int, default=48, help="examples per config")
    ap.add_argument("--rounds", type=int, default=10, help="timed passes over the scenes")
    ap.add_argument(
        "--system-malloc", action="store_true", help="keep glibc's default malloc trimming"
    )
    args = ap.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    print(f"# deepbench-hf lensing configs vs lenstronomy  ({now})")
    print(f"# command: python bench/lensing_configs.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# cpu: {cpu_model()} | pinned to CPU 0 | load average at start: {load_average()}")
    print(
        f"# python {sys.version.split()[0]} | numpy {np.__version__} | lenstronomy "
        f"{version('lenstronomy')}"
    )
    print()
    print(
        f"rows / images / lenstr / lt+psf: per CPU second (median of {args.rounds} passes over "
        f"{args.scenes} scenes per config, each scene made by each in turn); all with noise"
    )
    print(
        "lt+psf = lenstronomy's image and its update_psf for the image's PSF (per-image PSFs);"
        " lt' in img/lt' is lt+psf"
    )
    print(
        "k = the config's oversample = lenstronomy's supersampling_factor; ratios: median and "
        "range over the passes of the ratio within a pass"
    )
    print(
        "max / med diff: worst of 8 noiseless images, |ours - lenstronomy| / peak over the interior"
    )
    print(
        "lt-ss = lenstronomy with supersampling_convolution=True (the k x k grid convolved with "
        "the PSF sampled every 1/k px within 3 FWHM, supersampling_kernel_size); img/lt-ss and "
        "its diffs compare with it"
    )
    header = (
        f"{'config':<13} {'k':>2} | {'rows':>6} {'images':>6} {'lenstr':>6} {'lt+psf':>6} |"
        f" {'rows/lt':>7} {'range':>11} | {'img/lt':>7} {'range':>11} |"
        f" {'img/lt':>6}' {'range':>11} | {'max diff':>8} {'med diff':>8} |"
        f" {'lt-ss':>6} | {'img/lt-ss':>7} {'range':>11} | {'max diff':>8} {'med diff':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in args.configs:
        print(run(name, args.scenes, args.rounds), flush=True)
    print(f"# load average at end: {load_average()}")


if __name__ == "__main__":
    main()
