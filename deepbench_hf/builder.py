"""The ``datasets`` builder: every named config as a ``GeneratorBasedBuilder`` config.

>>> from deepbench_hf import DeepBench
>>> builder = DeepBench(config_name="shapes-easy")            # doctest: +SKIP
>>> builder.download_and_prepare(num_proc=2)                    # doctest: +SKIP
>>> ds = builder.as_dataset()                                   # doctest: +SKIP

A custom or overridden config: ``DeepBench.from_build_config(cfg)`` with
``cfg = load_config("my.yaml", ["noise.gaussian.sigma=0"])``. Rows are the same as the ones
``deepbench build`` writes (both call :func:`deepbench_hf.generate.generate_rows`, with the code
paths of numpy, OpenBLAS and libm pinned: :mod:`deepbench_hf.numerics`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import datasets

from .config import BuildConfig, builtin_config_names, load_config
from .generate import BATCH_SIZE, generate_rows
from .kinds import features_for
from .numerics import portable_caller
from .writer import plan_shards

_CITATION = """\
@article{voetberg2024deepbench,
  title = {DeepBench: a simulation package for physical benchmarking data},
  author = {Voetberg, M. and Ciprijanovic, A. and Gupta, A. and others},
  journal = {Journal of Open Source Software}, year = {2024}
}"""


@dataclass
class DeepBenchConfig(datasets.BuilderConfig):
    """A ``BuilderConfig`` carrying a resolved :class:`~deepbench_hf.config.BuildConfig`."""

    build: BuildConfig | None = None

    @classmethod
    def from_build_config(cls, build: BuildConfig) -> DeepBenchConfig:
        return cls(
            name=build.name,
            version=datasets.Version(
                build.version, description=build.release_notes.get(build.version)
            ),
            description=build.description,
            build=build,
        )


class DeepBench(datasets.GeneratorBasedBuilder):
    """Simulated benchmark datasets: shapes, sky images, strong lenses and N-body systems."""

    BUILDER_CONFIG_CLASS = DeepBenchConfig
    BUILDER_CONFIGS = [  # noqa: RUF012 - the datasets API declares it as a class list
        DeepBenchConfig.from_build_config(load_config(name)) for name in builtin_config_names()
    ]
    DEFAULT_CONFIG_NAME = "shapes-easy"

    @classmethod
    def from_build_config(cls, build: BuildConfig, **kwargs: Any) -> DeepBench:
        """A builder for any resolved config (a user's YAML file, overrides, other splits).

        ``kwargs`` go to ``GeneratorBasedBuilder`` (``cache_dir``, ...).
        """
        return cls(name=build.name, description=build.description, build=build, **kwargs)

    @property
    def _build(self) -> BuildConfig:
        assert self.config.build is not None, "DeepBenchConfig needs a BuildConfig"
        return self.config.build

    def _info(self) -> datasets.DatasetInfo:
        build = self._build
        return datasets.DatasetInfo(
            description=build.description,
            features=features_for(build),
            citation=_CITATION,
            homepage="https://github.com/deepskies/DeepBench",
            license="mit",
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        shards = plan_shards(self._build)
        generators = []
        for split in dict.fromkeys(s.split for s in shards):
            mine = [s for s in shards if s.split == split]
            generators.append(
                datasets.SplitGenerator(
                    name=split,
                    gen_kwargs={
                        "split": split,
                        "starts": [s.start for s in mine],
                        "stops": [s.stop for s in mine],
                    },
                )
            )
        return generators

    def _generate_examples(
        self, split: str, starts: list[int], stops: list[int]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        with portable_caller() as call:
            for start, stop in zip(starts, stops, strict=True):
                # in chunks: a worker's rows are held (and pickled) whole until it replies
                for first in range(start, stop, BATCH_SIZE):
                    yield from call(_rows, self._build, split, first, min(first + BATCH_SIZE, stop))


def _rows(
    build: BuildConfig, split: str, start: int, stop: int
) -> list[tuple[int, dict[str, Any]]]:
    """Examples ``start <= index < stop`` of ``split``, as a list (to cross a process boundary)."""
    return list(generate_rows(build, split, start, stop))
