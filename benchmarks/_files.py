"""Section ``files`` (issue 17): what the file checks cost, measured in-process on local files.

- header check per file and format (median of warm runs), and for 1,000 NumPy groups / JSON files;
- a large Parquet file's header check: its time and the bytes read (the footer only, whatever the size);
- full-check throughput (MB/s) against the floor: the same file read and scanned with numpy / pyarrow alone;
- ``upload=True`` + ``validate="full"``: the bytes read from disk for the full check *and* the SHA-256 of a file to
  stage, per byte of the file (the digest is computed from the bytes the check reads: ``HashingLocalFile``), against
  the check followed by a digest from the start (what staging did before).

No server is involved: ``check_files`` is pure over its sources.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pymilvus_import._files.check import check_files
from pymilvus_import._files.source import HashingLocalFile, LocalFile
from pymilvus_import._wire import CollectionSchema, FieldInfo

DIM = 128
SCHEMA = CollectionSchema(
    "bench",
    (
        FieldInfo("id", "Int64", is_primary=True),
        FieldInfo("s", "VarChar", type_params={"max_length": "64"}),
        FieldInfo("vec", "FloatVector", type_params={"dim": str(DIM)}),
    ),
)
VERSION = (2, 5, 10)


class _Counting(LocalFile):
    read_bytes = 0
    reads = 0

    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        _Counting.read_bytes += len(data)
        _Counting.reads += 1
        return data


class _CountingHashing(HashingLocalFile):
    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        _Counting.read_bytes += len(data)
        return data


def full_check_and_digest(groups: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per format: bytes read from disk (per byte of the files) and wall ms for the full check plus each file's
    SHA-256, the digest computed from the check's reads (``ours``) or read again from the start (``before``)."""
    import hashlib
    import os
    import threading

    from pymilvus_import._storage import _digest

    out: dict[str, dict[str, float]] = {}
    for kind, group in groups.items():
        size = sum(os.path.getsize(p) for p in group)
        _Counting.read_bytes = 0
        started = time.perf_counter()
        check_files(SCHEMA, VERSION, [group], _Counting, full=True)
        for path in group:
            _digest(path, threading.Event())
        before_ms, before = (time.perf_counter() - started) * 1000, _Counting.read_bytes + size
        _Counting.read_bytes = 0
        opened: dict[str, HashingLocalFile] = {}
        started = time.perf_counter()
        check_files(
            SCHEMA, VERSION, [group], lambda p, o=opened: o.get(p) or o.setdefault(p, _CountingHashing(p)), full=True
        )
        rest, digests = 0, {}
        for path in group:
            info = os.stat(path)
            state = opened[path].digest_state(info.st_size, info.st_mtime_ns)
            rest += info.st_size - (state[1] if state is not None else 0)
            digests[path] = _digest(path, threading.Event(), opened[path], info)
        ours_ms, ours = (time.perf_counter() - started) * 1000, _Counting.read_bytes + rest
        assert all(d == hashlib.sha256(Path(p).read_bytes()).hexdigest() for p, d in digests.items())
        out[kind] = {
            "mb": size / 1e6,
            "ours_read_x": ours / size,
            "before_read_x": before / size,
            "ours_ms": ours_ms,
            "before_ms": before_ms,
        }
    return out


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _write(directory: Path, rows: int) -> dict[str, list[str]]:
    vectors = np.random.default_rng(1).random((rows, DIM), dtype=np.float32)
    ids = np.arange(rows)
    strings = np.array([f"s{i}" for i in range(rows)])
    npy_dir = directory / "npy"
    npy_dir.mkdir()
    np.save(npy_dir / "id.npy", ids)
    np.save(npy_dir / "s.npy", strings)
    np.save(npy_dir / "vec.npy", vectors)
    table = pa.table({"id": ids, "s": strings, "vec": pa.array(list(vectors), pa.list_(pa.float32()))})
    pq.write_table(table, directory / "t.parquet")
    json_rows = [{"id": int(i), "s": f"s{i}", "vec": [round(float(x), 4) for x in vectors[i]]} for i in ids[:2000]]
    (directory / "r.json").write_text(json.dumps(json_rows))
    with open(directory / "r.csv", "w") as handle:
        handle.write("id,s,vec\n")
        for row in json_rows:
            handle.write(f'{row["id"]},{row["s"]},"{json.dumps(row["vec"])}"\n')
    return {
        "numpy": [str(npy_dir / n) for n in ("id.npy", "s.npy", "vec.npy")],
        "parquet": [str(directory / "t.parquet")],
        "json": [str(directory / "r.json")],
        "csv": [str(directory / "r.csv")],
    }


def run(quick: bool = False) -> dict[str, Any]:
    rows = 20_000 if quick else 200_000
    big_rows = 100_000 if quick else 2_000_000  # the large Parquet file: ~50 MB quick, ~1 GB full
    runs = 5 if quick else 30
    many = 50 if quick else 1000
    out: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory(prefix="bench-files-") as name:
        directory = Path(name)
        groups = _write(directory, rows)
        header: dict[str, float] = {}
        for kind, group in groups.items():
            header[kind] = _median_ms(lambda g=group: check_files(SCHEMA, VERSION, [g], LocalFile), runs)  # type: ignore[misc]
        out["header_ms"] = header

        started = time.perf_counter()
        check_files(SCHEMA, VERSION, [groups["numpy"]] * many, LocalFile)
        out["header_many"] = {"groups": many, "files": 3 * many, "total_ms": (time.perf_counter() - started) * 1000}

        big = directory / "big.parquet"
        rng = np.random.default_rng(2)
        vector_type = pa.list_(pa.float32())
        writer = pq.ParquetWriter(big, pa.schema([("id", pa.int64()), ("s", pa.string()), ("vec", vector_type)]))
        for start in range(0, big_rows, 10_000):
            vectors = pa.array(list(rng.random((10_000, DIM), dtype=np.float32)), vector_type)
            ids = pa.array(range(start, start + 10_000))
            writer.write_table(pa.table({"id": ids, "s": pa.array(["x"] * 10_000), "vec": vectors}))
        writer.close()
        _Counting.read_bytes = _Counting.reads = 0
        big_ms = _median_ms(lambda: check_files(SCHEMA, VERSION, [[str(big)]], _Counting), runs)
        out["big_parquet"] = {
            "size_mb": big.stat().st_size / 1e6,
            "header_ms": big_ms,
            "bytes_read_per_check": _Counting.read_bytes // (runs + 1),
            "reads_per_check": _Counting.reads // (runs + 1),
        }

        vec = groups["numpy"][2]
        size_mb = Path(vec).stat().st_size / 1e6
        ours = _median_ms(lambda: check_files(SCHEMA, VERSION, [groups["numpy"]], LocalFile, full=True), 3)
        floor = _median_ms(lambda: bool(np.isfinite(np.load(vec)).all()), 3)
        out["full_numpy"] = {"mb": size_mb, "ours_mb_s": size_mb / ours * 1000, "floor_mb_s": size_mb / floor * 1000}

        parquet = groups["parquet"][0]
        size_mb = Path(parquet).stat().st_size / 1e6
        ours = _median_ms(lambda: check_files(SCHEMA, VERSION, [[parquet]], LocalFile, full=True), 3)

        def parquet_floor() -> object:
            table = pq.read_table(parquet)
            return pc.max(pc.binary_length(table.column("s"))), pc.list_value_length(table.column("vec"))

        floor = _median_ms(parquet_floor, 3)
        out["full_parquet"] = {"mb": size_mb, "ours_mb_s": size_mb / ours * 1000, "floor_mb_s": size_mb / floor * 1000}
        out["full_check_and_digest"] = full_check_and_digest(groups)
    return out


def bad_file_latency(repeats: int = 5, lock_wait: float = 600.0) -> dict[str, Any]:
    """Time to learn of a bad file (a JSON file without the vector field) on the real Milvus 2.3.5: ours (the
    header check, FileMismatchError before any job) against the server's (``validate="off"``: the job is created,
    then followed until it is Failed). Starts its own server under the machine lock."""
    import uuid

    import pymilvus_import as pi

    from ._completion import create_collection
    from ._milvus import EmbeddedMilvus, machine_lock

    ours: list[float] = []
    server_s: list[float] = []
    with machine_lock(lock_wait), tempfile.TemporaryDirectory(prefix="bench-badfile-") as tmp:
        server = EmbeddedMilvus(Path(tmp) / "milvus")
        try:
            server.start()
            collection = f"bench_{uuid.uuid4().hex[:10]}"
            create_collection(server.uri, collection)
            bad = (server.data_dir / "bench" / "bad.json").resolve()
            bad.parent.mkdir(parents=True, exist_ok=True)
            bad.write_text(json.dumps({"rows": [{"id": i} for i in range(1000)]}))
            option = pi.new_bulk_import_option(server.uri, collection, [[str(bad)]])
            with pi.ImportClient(server.uri) as client:
                client.server_version()  # the channel is up: both sides start from a connected client
                for _ in range(repeats):
                    started = time.perf_counter()
                    try:
                        client.bulk_import(option)
                    except pi.FileMismatchError:
                        ours.append(time.perf_counter() - started)
                    else:
                        raise AssertionError("the bad file was not refused")
                    started = time.perf_counter()
                    response = client.bulk_import(option, validate="off")
                    try:
                        client.wait_for_import(response, timeout=300, poll_initial=0.05, poll_max=0.2)
                    except pi.ImportFailedError:
                        server_s.append(time.perf_counter() - started)
                    else:
                        raise AssertionError("the server accepted the bad file")
        finally:
            server.stop()
    return {
        "server": "milvus 2.3.5 (embedded)",
        "repeats": repeats,
        "ours_ms_median": statistics.median(ours) * 1000,
        "server_ms_median": statistics.median(server_s) * 1000,
        "server_ms_max": max(server_s) * 1000,
    }


if __name__ == "__main__":
    import sys

    if "--bad-file" in sys.argv:
        print(json.dumps(bad_file_latency(), indent=1))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=1))
