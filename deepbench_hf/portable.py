"""``python -m deepbench_hf.portable``: the command-line side of :mod:`deepbench_hf.numerics`.

* no arguments: serve a :class:`~deepbench_hf.numerics.PortableWorker` (workers are started
  with ``-c`` and the parent's ``sys.path``; this is the same loop);
* ``--shell``: print the pinning variables as ``unset`` / ``export`` lines, for
  ``eval "$(python -m deepbench_hf.portable --shell)"`` before starting Dask workers;
* ``--json``: print them as a JSON object.

A module of its own (not ``-m deepbench_hf.numerics``): the package imports ``numerics``, and
running an imported module as ``__main__`` would load a second copy of it.
"""

from __future__ import annotations

import json
import shlex
import sys

from .numerics import UNSET_VARIABLES, portable_variables, serve


def main(argv: list[str]) -> None:
    """Entry point; see the module."""
    if "--json" in argv:
        print(json.dumps(portable_variables()))
    elif "--shell" in argv:
        lines = [f"unset {name}" for name in UNSET_VARIABLES]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in portable_variables().items()]
        print("\n".join(lines))
    else:
        serve()


if __name__ == "__main__":
    main(sys.argv[1:])
