"""``deepbench`` subcommands that live in their own modules.

Each module defines ``add_parser(subparsers) -> None`` and ``run(args) -> int`` and is registered in
:data:`deepbench_hf.cli.COMMAND_MODULES`. Errors are :class:`~deepbench_hf.errors.DeepBenchError`
(the CLI prints them on one line and exits non-zero).
"""
