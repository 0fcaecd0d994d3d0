"""Rows do not depend on the CPU's SIMD level: builds compute them by numpy's baseline code.

This test process pins numpy's and OpenBLAS's code paths (``conftest.py``); the scripts below
run in processes where numpy dispatches to the CPU's SIMD code (AVX2 / AVX-512) and OpenBLAS
picks its kernels for the CPU, as a user's Python does, and their builds must write the same
bytes as a build from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from deepbench_hf import load_config
from deepbench_hf.errors import BuildError, ConfigError
from deepbench_hf.generate import generate_rows
from deepbench_hf.numerics import (
    DISABLE_VARIABLE,
    PortableWorker,
    dispatched_targets,
    enabled_targets,
    is_portable,
    numeric_platform,
    portable_environ,
    portable_variables,
    run_portable,
)
from deepbench_hf.writer import build_config

CONFIG = ("sky-medium", ["shard_size=4"], {"train": 8, "validation": 4, "test": 0})
PINS = (DISABLE_VARIABLE, "OPENBLAS_CORETYPE", "MKL_CBWR", "GLIBC_TUNABLES", "OPENBLAS_NUM_THREADS")


def _run_unpinned(script: str, tmp_path: Path, *, free: tuple[str, ...] = PINS) -> dict:
    """Run ``script`` (which prints one JSON line) in a Python where the variables ``free`` are
    unset: by default numpy dispatches freely and OpenBLAS picks its kernels for this CPU."""
    env = {k: v for k, v in os.environ.items() if k not in free}
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    out = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sha_of_images(rows: list[dict]) -> str:
    return hashlib.sha256(b"".join(r["image_clean"].tobytes() for r in rows)).hexdigest()


def _shas(record: dict) -> list[str]:
    return [s["sha256"] for split in record["splits"].values() for s in split["shards"]]


def test_this_test_process_computes_portable_rows():
    assert is_portable() and enabled_targets() == []
    assert set(portable_environ()[DISABLE_VARIABLE].split()) == set(dispatched_targets())
    assert set(portable_variables()) <= set(os.environ)


@pytest.mark.parametrize(
    ("free", "what"),
    [
        ((DISABLE_VARIABLE,), "numpy's SIMD dispatch"),
        (("OPENBLAS_CORETYPE",), "OpenBLAS kernels"),
        (("GLIBC_TUNABLES",), "glibc's libm variants"),
    ],
)
def test_unpinned_code_paths_change_the_rows(tmp_path, free, what):
    """Why builds pin all three: left to pick their code for this CPU, the same seed gives other
    bits (skipped where the free choice is the pinned one). Train rows 0-2 of ``lensing``: its
    float64 truth (``lensed_source``, S/N) shows libm's rare ulp differences."""
    result = _run_unpinned(
        f"""
        import json, pickle
        from deepbench_hf.generate import generate_rows
        from deepbench_hf.numerics import is_portable
        rows = [row for _, row in generate_rows("lensing", "train", 0, 3)]
        with open({str(tmp_path / "rows.pickle")!r}, "wb") as f:
            pickle.dump(rows, f)
        print(json.dumps({{"portable": is_portable()}}))
        """,
        tmp_path,
        free=free,
    )
    if result["portable"]:
        pytest.skip(f"{what}: this CPU's choice is the pinned one")
    theirs = (tmp_path / "rows.pickle").read_bytes()
    ours = pickle.dumps([row for _, row in generate_rows("lensing", "train", 0, 3)])
    assert ours != theirs


def test_builds_from_a_simd_process_equal_builds_from_a_baseline_process(tmp_path):
    name, overrides, splits = CONFIG
    reference = build_config(
        load_config(name, overrides, splits=splits), tmp_path / "here", progress=False
    )
    result = _run_unpinned(
        f"""
        import hashlib, json
        from deepbench_hf import load_config
        from deepbench_hf.builder import DeepBench
        from deepbench_hf.numerics import enabled_targets, run_portable
        from deepbench_hf.verify import verify
        from deepbench_hf.writer import build_config

        def main():
            config = load_config({name!r}, {overrides!r}, splits={splits!r})
            out = {{"enabled": enabled_targets()}}
            for n in (1, 2):
                folder = {str(tmp_path)!r} + f"/simd{{n}}"
                record = build_config(config, folder, num_proc=n, progress=False)
                out[f"num_proc={{n}}"] = [
                    s["sha256"] for split in record["splits"].values() for s in split["shards"]
                ]
            # regenerated rows (by a portable child process) equal the built ones bit for bit
            report = verify({str(tmp_path / "here")!r}, regenerate=5)
            out["verify"] = [report.ok, report.rows_regenerated, report.problems]
            # the datasets builder's examples, as generated for download_and_prepare
            builder = DeepBench.from_build_config(config, cache_dir={str(tmp_path / "cache")!r})
            rows = [row for _, row in builder._generate_examples("train", [0, 4], [4, 8])]
            out["builder"] = hashlib.sha256(
                b"".join(r["image_clean"].tobytes() for r in rows)
            ).hexdigest()
            try:
                run_portable(int, "not a number")
            except ValueError as exc:
                out["error"] = str(exc)
            print(json.dumps(out))

        if __name__ == "__main__":
            main()
        """,
        tmp_path,
    )
    assert result["num_proc=1"] == _shas(reference)
    assert result["num_proc=2"] == _shas(reference)
    assert result["verify"] == [True, 5, []]
    config = load_config(name, overrides, splits=splits)
    rows = [row for _, row in generate_rows(config, "train", 0, 8)]
    assert result["builder"] == _sha_of_images(rows)
    if result["enabled"]:  # the error came back from a child process
        assert "invalid literal for int()" in result["error"]


def test_run_portable_in_a_portable_process_calls_directly():
    assert run_portable(sorted, [3, 1, 2]) == [1, 2, 3]
    with pytest.raises(ZeroDivisionError):
        run_portable(divmod, 1, 0)


def test_build_record_and_card_state_the_numeric_platform(tmp_path):
    name, overrides, splits = CONFIG
    record = build_config(load_config(name, overrides, splits=splits), tmp_path, progress=False)
    assert record["numerics"] == {**numeric_platform(), "unpinned": []}
    assert record["numerics"]["numpy"] == np.__version__
    assert record["numerics"]["numpy_baseline"]
    card = (tmp_path / "README.md").read_text()
    baseline = ", ".join(record["numerics"]["numpy_baseline"])
    assert f"by numpy's baseline code ({baseline}; SIMD" in card


def test_a_portable_worker_serves_many_calls_and_survives_their_exceptions():
    with PortableWorker() as worker:
        assert worker.call(enabled_targets) == []  # its numpy runs the baseline code only
        assert worker.call(print, "printed output goes to stderr") is None
        with pytest.raises(ValueError, match="invalid literal"):
            worker.call(int, "not a number")
        assert worker.call(sorted, [3, 1, 2]) == [1, 2, 3]
        with pytest.raises(ConfigError, match="sky-hrad: unknown config") as raised:
            worker.call(load_config, "sky-hrad")  # its own pickling (keyword-only field)
        if sys.version_info >= (3, 11):
            assert "pinned worker process" in "".join(raised.value.__notes__)
        with pytest.raises(BuildError, match="_Unrebuildable: two arguments"):
            worker.call(_raise_unrebuildable)  # pickles, but its class cannot be rebuilt
        with pytest.raises(BuildError, match="exited with code 3"):
            worker.call(os._exit, 3)


class _Unrebuildable(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def _raise_unrebuildable() -> None:
    raise _Unrebuildable("two", "arguments")


def test_a_user_glibc_tunable_keeps_the_pins(monkeypatch):
    """glibc leaves only the first tunable in a process's initial environment: ours goes first
    and a user's other tunables follow (a user's glibc.malloc.arena_max made every build fail)."""
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2:glibc.cpu.hwcaps=-SSE4_2")
    env = portable_environ()
    if "GLIBC_TUNABLES" not in portable_variables():
        pytest.skip("libm is not pinned here (not glibc on x86-64)")
    tunables = env["GLIBC_TUNABLES"].split(":")
    assert tunables[1:] == ["glibc.malloc.arena_max=2"]  # the user's hwcaps give way to ours
    check = "from deepbench_hf.numerics import *; print(is_portable(), pinning_problems())"
    out = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True []"


def test_pinned_processes_start_with_one_blas_thread():
    from threadpoolctl import threadpool_info

    assert portable_variables()["OPENBLAS_NUM_THREADS"] == "1"
    assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}


def test_rows_do_not_depend_on_the_callers_blas_threads():
    """OpenBLAS's threaded kernels split their sums by thread count: rows use one thread."""
    from threadpoolctl import threadpool_limits

    config = load_config("sky-hard", splits={"train": 0, "validation": 4, "test": 0})
    shas = []
    for threads in (1, 2):  # rows 1 and 3 differed when they ran with the caller's threads
        with threadpool_limits(limits=threads, user_api="blas"):
            rows = [row for _, row in generate_rows(config, "validation", 0, 4)]
        shas.append(_sha_of_images(rows))
    assert shas[0] == shas[1]


def test_the_pinning_variables_print_for_a_shell_and_as_json():
    command = [sys.executable, "-m", "deepbench_hf.portable"]
    shell = subprocess.run([*command, "--shell"], capture_output=True, text=True, check=True)
    assert shell.stderr == ""
    lines = shell.stdout.splitlines()
    assert [line for line in lines if line.startswith("unset ")] == [
        "unset NPY_ENABLE_CPU_FEATURES"
    ]
    exports = [line.removeprefix("export ") for line in lines if line.startswith("export ")]
    exported = dict(line.split("=", 1) for line in exports)
    assert set(exported) == set(portable_variables())
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)
    assert json.loads(as_json.stdout) == portable_variables()


def test_a_worker_whose_openblas_ignores_the_pin_builds_and_says_so(tmp_path):
    """An OpenBLAS built for one CPU ignores OPENBLAS_CORETYPE (mimicked by a sitecustomize that
    drops it): the worker warns, computes, and the record and card list what was not pinned."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text('import os\nos.environ.pop("OPENBLAS_CORETYPE", None)\n')
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    script = tmp_path / "build.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.append(__import__("pathlib").Path("/nonexistent"))  # not a str: ignored
            from deepbench_hf import load_config
            from deepbench_hf.writer import build_config
            config = load_config("shapes-easy", splits={{"train": 2, "validation": 0, "test": 0}})
            record = build_config(config, {str(tmp_path / "out")!r}, progress=False)
            print(json.dumps(record["numerics"]))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    numerics = json.loads(out.stdout.strip().splitlines()[-1])
    if not numerics["openblas_kernels"] or not numerics["unpinned"]:
        pytest.skip("no OpenBLAS kernel to pin here, or this CPU's own kernels are the pinned ones")
    assert all(problem.startswith("OpenBLAS runs its") for problem in numerics["unpinned"])
    assert "could not pin every code path" in out.stderr
    card = (tmp_path / "out" / "README.md").read_text()
    assert "But the build could not pin everything (OpenBLAS runs its" in card
