"""Small helpers shared by the benchmark sections: summaries, child processes, RSS."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, min, max and quartiles of ``samples`` (as given, no unit conversion)."""
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "samples": samples,
    }


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MILVUS_URI", "MILVUS_TOKEN", "PYTHONPROFILEIMPORTTIME", "PYTHONTRACEMALLOC"):
        env.pop(key, None)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_module(module: str, *args: str, timeout: float = 600, show_stderr: bool = False) -> dict[str, Any]:
    """Run ``python -m benchmarks.<module> args`` in a fresh process; it prints one JSON object as its last line."""
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=None if show_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmarks.{module} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{(proc.stderr or '')[-4000:]}"
        )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def emit(result: dict[str, Any]) -> None:
    """A child's result: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
