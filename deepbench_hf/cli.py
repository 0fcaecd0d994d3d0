"""The ``deepbench`` command line."""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .commands import non_empty, non_negative, positive
from .config import SPLIT_NAMES, BuildConfig, builtin_config_names, builtin_suites, load_config
from .errors import BuildError, ConfigError, DeepBenchError

# Further subcommands live in their own modules; each defines
# ``add_parser(subparsers) -> None`` and ``run(args: argparse.Namespace) -> int``.
COMMAND_MODULES: dict[str, str] = {
    name: f"deepbench_hf.commands.{name}" for name in ("verify", "push", "export", "query")
}

EPILOG = """\
examples:
  deepbench list
  deepbench build shapes-easy --out deepbench
  deepbench build --suite paper --out deepbench         # the whole difficulty ladder
  deepbench build shapes-hard --out deepbench --num-examples 1000 --num-proc 2
  deepbench build my-config.yaml --out deepbench --set noise.gaussian.sigma=0
  deepbench show shapes-hard --set objects.count=3

then, from the folder that holds DIR:
  python -c "import datasets; print(datasets.load_dataset('deepbench', 'shapes-easy'))"
"""


def _split_sizes(text: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in SPLIT_NAMES:
            raise argparse.ArgumentTypeError(
                f"expected train=N,validation=N,test=N (splits: {', '.join(SPLIT_NAMES)}), "
                f"got {part!r}"
            )
        if name in sizes:
            raise argparse.ArgumentTypeError(f"{name}: given twice")
        try:
            sizes[name] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name}: expected an integer, got {value!r}"
            ) from None
        if sizes[name] < 0:
            raise argparse.ArgumentTypeError(f"{name}: must be >= 0, got {sizes[name]}")
    return sizes


def _add_config_args(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    if many:
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "configs",
            nargs="*",
            default=[],
            metavar="CONFIG",
            help="config names (see 'deepbench list') or paths to YAML files",
        )
        which.add_argument("--all", action="store_true", help="build every named config")
        which.add_argument(
            "--suite",
            choices=sorted(builtin_suites()),
            help="build a named collection of configs (e.g. the paper's whole ladder)",
        )
    else:
        parser.add_argument(
            "config", help="a config name (see 'deepbench list') or a path to a YAML file"
        )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field, e.g. --set noise.gaussian.sigma=0 (value is YAML); repeatable",
    )
    parser.add_argument("--seed", type=non_negative, help="master seed (overrides the config's)")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--split-sizes",
        type=_split_sizes,
        metavar="train=N,validation=N,test=N",
        help="examples per split (splits not named keep the config's size)",
    )
    sizes.add_argument(
        "--num-examples",
        type=positive,
        metavar="N",
        help="total examples, divided in the config's split proportions (validation and test "
        "rounded down, the rest to train)",
    )


class _OneLineErrors(argparse.ArgumentParser):
    """``ArgumentParser`` whose usage errors are one line (the usage block stays in ``--help``);
    sub-command parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _check_names(names: list[str], out: str) -> None:
    """Refuse a build whose configs share a name, or whose query views would clash with each
    other or with the configs already in a local ``out`` folder."""
    from .query import folder_configs, view_clash, view_name

    for name in names:
        if names.count(name) > 1:
            raise BuildError(f"config {name!r} is given twice; each config needs its own name")
    local = out.removeprefix("file://") if out.startswith("file://") else out
    folder = Path(local)
    existing = folder_configs(folder) if "://" not in local and folder.is_dir() else []
    clash = view_clash([n for n in existing if n not in names] + names, new=names)
    if clash:
        raise BuildError(
            f"configs {clash[0]!r} and {clash[1]!r} would share the query view "
            f"{view_name(clash[1])!r} in {out}; give one another name"
        )


def _stopped(exc: KeyboardInterrupt) -> str:
    return "terminated" if isinstance(exc, _Terminated) else "interrupted"


def _stop_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal, as a shell reports a process the signal killed."""
    return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="deepbench",
        description="Build simulated benchmark datasets (shapes, sky images, lenses, N-body) as "
        "HuggingFace datasets in the Hub layout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"deepbench-hf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="generate a config into a dataset folder",
        description="Generate a config's splits as Parquet shards into DIR/<config>/ and update "
        "DIR/README.md (configs + dataset_info), so that load_dataset('DIR', '<config>') "
        "works from DIR's parent. Each config's write is atomic: a failed build leaves DIR as "
        "it was before that config. Output is bit-identical for any --num-proc.",
    )
    _add_config_args(build, many=True)
    build.add_argument(
        "--out",
        required=True,
        type=non_empty,
        metavar="DIR",
        help="dataset folder (created if missing): a local path or an fsspec URL (s3://...)",
    )
    workers = build.add_mutually_exclusive_group()
    workers.add_argument(
        "--num-proc", type=positive, metavar="N", help="worker processes (default 1)"
    )
    build.add_argument(
        "--shard-size",
        type=positive,
        metavar="N",
        help="examples per Parquet shard (overrides the config's shard_size)",
    )
    build.add_argument(
        "--row-group-size",
        type=positive,
        metavar="N",
        help="rows per Parquet row group (overrides the config's row_group_size)",
    )
    workers.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the shards as tasks on a Dask cluster (e.g. tcp://host:8786); needs the "
        "'dask' extra, and --out must be reachable from the workers",
    )
    progress = build.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show a progress bar",
    )
    progress.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show a progress bar (default: only on a terminal)",
    )

    sub.add_parser(
        "list",
        help="list the named configs",
        description="List the named configs with the first line of their description.",
    )

    show = sub.add_parser(
        "show",
        help="print a config fully resolved (extends + overrides)",
        description="Print the resolved YAML of a config after extends, "
        "defaults and overrides, and its hash.",
    )
    _add_config_args(show)
    for module in COMMAND_MODULES.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def _load(args: argparse.Namespace, ref: str) -> BuildConfig:
    overrides = list(args.overrides)
    if getattr(args, "shard_size", None):
        overrides.append(f"shard_size={args.shard_size}")
    if getattr(args, "row_group_size", None):
        overrides.append(f"row_group_size={args.row_group_size}")
    config = load_config(ref, overrides, seed=args.seed, splits=args.split_sizes)
    if args.num_examples is not None:
        sizes = _proportional(config.splits, args.num_examples)
        try:
            config = load_config(ref, overrides, seed=args.seed, splits=sizes)
        except ConfigError as exc:
            raise DeepBenchError(
                f"--num-examples {args.num_examples}: {exc.path}: {exc.message}"
            ) from None
    return config


def _load_all(args: argparse.Namespace, refs: list[str]) -> list[BuildConfig]:
    """Every config named, loaded with the command line's options; an error that a command-line
    option (``--set``, ``--shard-size``, ...) causes in one of several configs names that config."""
    configs = []
    for ref in refs:
        try:
            configs.append(_load(args, ref))
        except ConfigError as exc:
            if len(refs) > 1 and exc.source.startswith("--"):
                raise DeepBenchError(f"{ref}: {exc}") from None
            raise
    return configs


def _build_refs(args: argparse.Namespace) -> list[str]:
    refs = list(args.configs)
    if args.all:
        refs += builtin_config_names()
    if args.suite:
        refs += builtin_suites()[args.suite]["configs"]
    if not refs:
        raise DeepBenchError("build: name at least one CONFIG, or use --all or --suite")
    return list(dict.fromkeys(refs))


def _client(address: str | None):
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise DeepBenchError("--scheduler needs Dask: pip install 'deepbench-hf[dask]'") from None
    try:
        return Client(address, timeout="10s")
    except OSError as exc:
        raise DeepBenchError(f"--scheduler {address}: cannot connect ({exc})") from None
    except (ValueError, TypeError) as exc:  # a malformed address
        raise DeepBenchError(
            f"--scheduler {address}: not a scheduler address such as tcp://HOST:8786 ({exc})"
        ) from None


def _proportional(splits: dict[str, int], total: int) -> dict[str, int]:
    current = sum(splits.values())
    if current == 0:
        return {"train": total, "validation": 0, "test": 0}
    sizes = {name: total * n // current for name, n in splits.items() if name != "train"}
    sizes["train"] = total - sum(sizes.values())
    return sizes


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C: worker processes stop; finished shards stay staged for a
    rerun to resume."""


_UNCHANGED = {
    "export": "; the export folder is unchanged",
    "push": "; the repo is unchanged unless its one commit had already been made",
}
"""What an interrupted command leaves, by command (verify, query, list, show: nothing)."""


def _missing_locally(path: str) -> bool:
    """Whether ``path`` is a local path (not a URL) where nothing exists."""
    return "://" not in path and not os.path.lexists(path)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepbench`` console script; returns the exit code."""
    # Only where SIGTERM would kill the process outright (the console script): a host program's
    # own handler, or a non-main thread, is left alone.
    ours = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    )
    if ours:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    finally:
        if ours:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in builtin_config_names():
                config = load_config(name)
                print(f"{name:<16} {config.kind:<8} {config.summary}")
            return 0
        if args.command == "show":
            config = _load(args, args.config)
            print(f"# {config.name}: config hash {config.config_hash}")
            print(config.to_yaml(), end="")
            return 0
        if args.command == "build":
            from .writer import build_config

            configs = _load_all(args, _build_refs(args))  # validate all first
            _check_names([c.name for c in configs], args.out)
            command = "deepbench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
            client = _client(args.scheduler)
            built: list[str] = []
            try:
                for config in configs:
                    record = build_config(
                        config,
                        args.out,
                        num_proc=args.num_proc or 1,
                        client=client,
                        progress=args.progress,
                        command=command,
                    )
                    sizes = ", ".join(
                        f"{s} {v['num_examples']}" for s, v in record["splits"].items()
                    )
                    print(f"built {config.name} into {args.out}/{config.name} ({sizes})")
                    built.append(config.name)
            except KeyboardInterrupt as exc:
                done = f"; built before it: {', '.join(built)}" if built else ""
                target = f"{args.out}/{config.name}"
                state = "was not created" if _missing_locally(target) else "is unchanged"
                print(
                    f"deepbench: {_stopped(exc)}; {target} {state}{done} "
                    "(finished shards wait in the staging folder beside it: the same command "
                    "resumes)",
                    file=sys.stderr,
                )
                return _stop_code(exc)
            finally:
                if client is not None:
                    client.close()
            return 0
        if args.command in COMMAND_MODULES:
            return importlib.import_module(COMMAND_MODULES[args.command]).run(args)
    except DeepBenchError as exc:
        print(f"deepbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"deepbench: {_stopped(exc)}{_UNCHANGED.get(args.command, '')}", file=sys.stderr)
        return _stop_code(exc)
    except BrokenPipeError:  # e.g. `deepbench show sky-easy | head -1`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 141  # 128 + SIGPIPE, as a shell tool killed by the closed pipe
    except OSError as exc:
        print(f"deepbench: error: {BuildError(str(exc))}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
