"""deepbench-hf: simulated scientific benchmark datasets, built from first principles.

Quick use::

    deepbench build shapes-easy --out deepbench      # shell
    datasets.load_dataset("deepbench", "shapes-easy")

Python API: :func:`load_config`, :func:`build_config`, :func:`regenerate_row` (a
:class:`BuildConfig` or a config name / YAML path, a split and an index), and the ``datasets``
builder :class:`DeepBench`. Conventions: x = column, y = row, pixel centres at
integer coordinates; angles in radians from +x towards +y.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

from .config import BuildConfig, builtin_config_names, load_config
from .errors import BuildError, ConfigError, DeepBenchError
from .generate import generate_rows, regenerate_row

if TYPE_CHECKING:
    from .builder import DeepBench, DeepBenchConfig
    from .writer import build_config

try:
    __version__ = metadata.version("deepbench-hf")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "BuildConfig",
    "BuildError",
    "ConfigError",
    "DeepBench",
    "DeepBenchConfig",
    "DeepBenchError",
    "build_config",
    "builtin_config_names",
    "generate_rows",
    "load_config",
    "regenerate_row",
]


def __getattr__(name: str) -> Any:
    # The builder parses every shipped config at import; load it (and the writer) on first use.
    if name in ("DeepBench", "DeepBenchConfig"):
        from . import builder

        return getattr(builder, name)
    if name == "build_config":
        from .writer import build_config

        return build_config
    raise AttributeError(f"module 'deepbench_hf' has no attribute {name!r}")
