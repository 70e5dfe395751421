"""Memory: RSS after import (fresh processes), and RSS across many calls against the instant server.

``python -m benchmarks._memory calls ADDRESS N VARIANT``: in a fresh process, make 200 warm-up calls, then N calls in
five equal slices, reading RSS (``/proc/self/statm``) after a ``gc.collect()`` at each checkpoint. VARIANT ``ours``
is ``ImportClient.bulk_import``; ``floor`` (the raw stub) shows what the gRPC runtime alone does.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
from typing import Any

from ._stats import ROOT, child_env, emit, rss_bytes, run_module

MB = 1024 * 1024
_RSS = (
    "import os\n"
    "def _rss():\n"
    "    with open('/proc/self/statm') as f:\n"
    "        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
    "_before = _rss()\n"
    "{code}"
    "print(_before, _rss())\n"
)
IMPORTS = {
    "floor": "import grpc, google.protobuf\n",
    "ours": "import pymilvus_import\n",
    "pymilvus": "import pymilvus\n",
}


def import_rss(code: str) -> tuple[int, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _RSS.format(code=code)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = proc.stdout.split()
    return int(before), int(after)


def calls(address: str, n: int, variant: str) -> dict[str, Any]:
    from pymilvus_import import ImportClient, new_bulk_import_option
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

    file = "/var/lib/milvus/data/bench/rows.json"
    if variant == "ours":
        client = ImportClient(f"http://{address}")
        option = new_bulk_import_option("", "bench", [[file]])

        def call() -> object:
            return client.bulk_import(option)

        close = client.close
    else:
        import grpc

        from pymilvus_import._connection import DEFAULT_CHANNEL_OPTIONS

        channel = grpc.insecure_channel(address, options=list(DEFAULT_CHANNEL_OPTIONS))
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)

        def call() -> object:
            return stub.Import(milvus_pb2.ImportRequest(collection_name="bench", files=[file])).tasks[0]

        close = channel.close
    for _ in range(200):
        call()
    gc.collect()
    checkpoints = [(0, rss_bytes())]
    step = max(1, n // 5)
    done = 0
    while done < n:
        for _ in range(min(step, n - done)):
            call()
        done += min(step, n - done)
        gc.collect()
        checkpoints.append((done, rss_bytes()))
    close()
    return {"variant": variant, "calls": n, "checkpoints": checkpoints}


def run(address: str, n: int, import_runs: int, include_pymilvus: bool) -> dict[str, Any]:
    after_import: dict[str, Any] = {}
    for name, code in IMPORTS.items():
        if name == "pymilvus" and not include_pymilvus:
            continue
        samples = [import_rss(code) for _ in range(import_runs)]
        after_import[name] = {
            "rss_mb": statistics.median(a for _, a in samples) / MB,
            "import_delta_mb": statistics.median(a - b for b, a in samples) / MB,
        }
    across: dict[str, Any] = {}
    for variant in ("floor", "ours"):
        result = run_module("_memory", "calls", address, str(n), variant)
        points = result["checkpoints"]
        across[variant] = {
            "calls": n,
            "rss_before_mb": points[0][1] / MB,
            "rss_after_mb": points[-1][1] / MB,
            "growth_kb": (points[-1][1] - points[0][1]) / 1024,
            "checkpoints_mb": [(c, r / MB) for c, r in points],
        }
    return {"after_import": after_import, "across_calls": across}


if __name__ == "__main__":
    if sys.argv[1] == "calls":
        emit(calls(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
