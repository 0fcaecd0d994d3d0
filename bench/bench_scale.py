"""Scaling benchmark: one build timed with 1 and 2 local processes and a 2-worker Dask LocalCluster.

Also measures peak memory (RSS of the main process and of the largest worker) of a long build, to
show that memory is bounded by the shard size and not by the dataset size.

Usage::

    python bench/bench_scale.py                      # 20,000 shapes-hard images per timing run
    python bench/bench_scale.py --memory 1000000     # + peak RSS of a 1,000,000-image build

Prints a table; ``bench/results/scale.txt`` keeps the latest run.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from deepbench_hf import load_config
from deepbench_hf.writer import build_config


def _timed(label: str, build) -> tuple[str, float]:
    start = time.perf_counter()
    build()
    return label, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="shapes-hard")
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--memory", type=int, default=0, help="images for the peak-RSS run")
    args = parser.parse_args()

    splits = {"train": args.examples, "validation": 0, "test": 0}
    config = load_config(args.config, [f"shard_size={args.shard_size}"], splits=splits)
    work = Path(tempfile.mkdtemp(prefix="deepbench-scale-"))
    rows = []
    try:
        rows.append(_timed("1 process", lambda: build_config(config, work / "p1", progress=False)))
        rows.append(
            _timed(
                "2 processes", lambda: build_config(config, work / "p2", num_proc=2, progress=False)
            )
        )
        try:
            from distributed import Client, LocalCluster

            with (
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster) as client,
            ):
                rows.append(
                    _timed(
                        "Dask LocalCluster, 2 workers",
                        lambda: build_config(config, work / "dask", client=client, progress=False),
                    )
                )
        except ImportError:
            rows.append(("Dask LocalCluster (not installed)", float("nan")))

        print(
            f"# {args.config}: {args.examples} images, shard size {args.shard_size}, "
            f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
        )
        base = rows[0][1]
        print(f"{'run':<32} {'seconds':>8} {'images/s':>10} {'speed-up':>9}")
        for label, seconds in rows:
            print(
                f"{label:<32} {seconds:8.2f} {args.examples / seconds:10.0f} {base / seconds:9.2f}"
            )

        if args.memory:
            big = load_config(
                args.config,
                [f"shard_size={args.shard_size}"],
                splits={"train": args.memory, "validation": 0, "test": 0},
            )
            label, seconds = _timed(
                f"{args.memory} images, 2 processes",
                lambda: build_config(big, work / "big", num_proc=2, progress=False),
            )
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            size = sum(p.stat().st_size for p in (work / "big").rglob("*")) / 1e9
            print(
                f"\n{label}: {seconds:.0f} s ({args.memory / seconds:.0f} images/s), "
                f"{size:.2f} GB on disk; peak RSS main {own:.0f} MB, largest worker "
                f"{child:.0f} MB"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
