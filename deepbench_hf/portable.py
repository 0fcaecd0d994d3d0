"""``python -m deepbench_hf.portable``: the command-line side of :mod:`deepbench_hf.numerics`.

* ``--shell``: print the pinning variables as ``unset`` / ``export`` lines, for
  ``eval "$(python -m deepbench_hf.portable --shell)"`` before starting Dask workers;
* ``--json``: print them as a JSON object.

A module of its own (not ``-m deepbench_hf.numerics``): the package imports ``numerics``, and
running an imported module as ``__main__`` would load a second copy of it. (Workers start with
``-c`` and the parent's ``sys.path``: :class:`~deepbench_hf.numerics.PortableWorker`.)
"""

from __future__ import annotations

import json
import shlex
import sys

from .numerics import UNSET_VARIABLES, portable_variables


def main(argv: list[str]) -> int:
    """Entry point; see the module. Returns the exit code."""
    if argv == ["--json"]:
        print(json.dumps(portable_variables()))
    elif argv == ["--shell"]:
        lines = [f"unset {name}" for name in UNSET_VARIABLES]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in portable_variables().items()]
        print("\n".join(lines))
    else:
        print("usage: python -m deepbench_hf.portable --shell | --json", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
