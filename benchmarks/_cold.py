"""Cold start: each variant in a fresh process of this venv's python, interleaved in a shuffled order per run.

Each child times its own work with ``time.perf_counter`` from its first statement (after interpreter start-up,
which is the same for every variant) and prints it; the parent also records the whole process's wall time
(start-up and exit included).

(a) import only: ``import grpc, google.protobuf`` (floor) vs ``import pymilvus_import`` (vs ``import pymilvus``).
(b) whole cold path against the instant server: import, build the request/option, complete the first Import.
    The floor loads the generated modules straight from their directory as a stand-alone package, so that
    ``pymilvus_import/__init__`` does not run. Ours runs the preflight (the default: DescribeCollection, then
    Import); ``path/ours (preflight=False)`` is the same without it, to show what the preflight adds to a cold start.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from typing import Any

from ._stats import ROOT, child_env, summary

_PROLOGUE = "import time\n_t0 = time.perf_counter()\n"
_EPILOGUE = "_t1 = time.perf_counter()\nimport json\nprint(json.dumps({'t': _t1 - _t0}), flush=True)\n"

IMPORT_FLOOR = "import grpc, google.protobuf\n"
IMPORT_OURS = "import pymilvus_import\n"
IMPORT_PYMILVUS = "import pymilvus\n"

PATH_FLOOR = """\
import importlib.util, sys
import grpc
_spec = importlib.util.spec_from_file_location(
    "floor_gen", {gen!r} + "/__init__.py", submodule_search_locations=[{gen!r}]
)
_pkg = importlib.util.module_from_spec(_spec)
sys.modules["floor_gen"] = _pkg
_spec.loader.exec_module(_pkg)
from floor_gen import milvus_pb2
channel = grpc.insecure_channel({address!r})
import_rpc = channel.unary_unary(  # what the generated stub does, for the one method the path calls
    "/milvus.proto.milvus.MilvusService/Import",
    request_serializer=milvus_pb2.ImportRequest.SerializeToString,
    response_deserializer=milvus_pb2.ImportResponse.FromString,
)
reply = import_rpc(milvus_pb2.ImportRequest(collection_name="bench", files=[{file!r}]), timeout=10)
assert reply.status.code == 0 and reply.status.error_code == 0 and reply.tasks, reply
"""

PATH_OURS = """\
from pymilvus_import import bulk_import, new_bulk_import_option
option = new_bulk_import_option("http://{address}", "bench", [[{file!r}]])
response = bulk_import(option, timeout=10)
assert response.data.job_id, response
"""

PATH_PYMILVUS = """\
from pymilvus import connections, utility
connections.connect(uri="http://{address}")
task = utility.do_bulk_insert("bench", files=[{file!r}], timeout=10)
assert task, task
"""

PATH_OURS_NO_PREFLIGHT = PATH_OURS.replace("timeout=10)", "timeout=10, preflight=False)")

_AFTER_PYMILVUS = "connections.disconnect('default')\n"

FILE = "/var/lib/milvus/data/bench/rows.json"
#: ``import pymilvus_import`` with PYTHONDONTWRITEBYTECODE=1 and no cache (this machine's default shell setting).
NO_PYC = "import/ours (no .pyc)"
NO_PREFLIGHT = "path/ours (preflight=False)"


def _generated_dir() -> str:
    import pymilvus_import._generated as generated

    return str(next(iter(generated.__path__)))


def _env(no_bytecode_cache: bool) -> dict[str, str]:
    env = child_env()
    if no_bytecode_cache:  # how this machine's shell runs python: sources of an editable install compiled each time
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_child(code: str, timeout: float = 120, *, no_bytecode_cache: bool = False) -> tuple[float, float]:
    """(in-process seconds, whole-process wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(no_bytecode_cache),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}):\n{code}\n{proc.stderr[-3000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["t"]), wall


def run(address: str, runs: int, *, include_pymilvus: bool = True, seed: int = 1) -> dict[str, Any]:
    gen = _generated_dir()
    variants: dict[str, str] = {
        "import/floor": IMPORT_FLOOR,
        "import/ours": IMPORT_OURS,
        "path/floor": PATH_FLOOR.format(gen=gen, address=address, file=FILE),
        "path/ours": PATH_OURS.format(address=address, file=FILE),
        NO_PREFLIGHT: PATH_OURS_NO_PREFLIGHT.format(address=address, file=FILE),
    }
    if include_pymilvus:
        variants["import/pymilvus"] = IMPORT_PYMILVUS
        variants["path/pymilvus"] = PATH_PYMILVUS.format(address=address, file=FILE) + _AFTER_PYMILVUS
    variants[NO_PYC] = IMPORT_OURS
    scripts = {name: _PROLOGUE + body + _EPILOGUE for name, body in variants.items()}
    for name in scripts:  # warm-up: byte-code caches and the page cache, not counted
        _run_child(scripts[name], no_bytecode_cache=name == NO_PYC)
    inproc: dict[str, list[float]] = {name: [] for name in scripts}
    wall: dict[str, list[float]] = {name: [] for name in scripts}
    rng = random.Random(seed)
    for _ in range(runs):
        order = list(scripts)
        rng.shuffle(order)
        for name in order:
            t, w = _run_child(scripts[name], no_bytecode_cache=name == NO_PYC)
            inproc[name].append(t)
            wall[name].append(w)
    result: dict[str, Any] = {
        "runs": runs,
        "server": "instant-answer server (benchmarks/_server.py, separate process)",
        "bytecode": "all variants run with byte-code caches (warm-up run first, PYTHONPYCACHEPREFIX in a temp dir), "
        f"except {NO_PYC!r}",
        "in_process_s": {name: summary(v) for name, v in inproc.items()},
        "process_wall_s": {name: summary(v) for name, v in wall.items()},
    }
    med = {name: s["median"] for name, s in result["in_process_s"].items()}
    ratios = {
        "import ours/floor": med["import/ours"] / med["import/floor"],
        "path ours/floor": med["path/ours"] / med["path/floor"],
        "path ours (preflight=False)/floor": med[NO_PREFLIGHT] / med["path/floor"],
    }
    if include_pymilvus:
        ratios["import ours/pymilvus"] = med["import/ours"] / med["import/pymilvus"]
        ratios["path ours/pymilvus"] = med["path/ours"] / med["path/pymilvus"]
    result["ratios"] = ratios
    return result
