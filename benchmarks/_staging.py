"""Staging files into Milvus's bucket, measured: ``python -m benchmarks._staging [--quick]`` (under
``flock /tmp/pmi-servers.lock``: it starts SeaweedFS on the fixed port 9000).

Side by side, in one run, on two links:

- **ours**: ``stage_files`` (digest, HEAD, multipart with ``PARTS_IN_FLIGHT`` parts per file, ``FILES_IN_FLIGHT``
  files at once);
- **floor**: the chosen library's own best-case put of the same bytes (``obstore.put``, 16 MiB parts, 8 in flight,
  4 files at once; no digest, no HEAD);
- **pymilvus's path**: ``minio`` ``fput_object``, one file at a time (what RemoteBulkWriter does).

Links: **loopback** (the local SeaweedFS is the limit there) and an **emulated network link**: a TCP forwarder in a
separate process that delays every chunk by 10 ms each way (20 ms round trip) and caps each connection at 25 MB/s,
the per-flow limit that makes real S3 clients open parallel connections. It is an emulation in user space (no
packet loss, no congestion control, no shared bottleneck), not a measurement of a real network.

Part of ``python -m benchmarks`` (section ``staging``, with ``--json``). Also: re-staging 100 unchanged files
(HEADs only) and verifying 1,000 keys, wall time on both links. Client CPU seconds per GB come from ``getrusage``
of this process (all threads). Writes ``benchmarks/results-staging.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._milvus import machine_lock
from tools.seaweedfs_launcher import ACCESS_KEY, SECRET_KEY, SeaweedFS

MIB = 1024 * 1024
FORWARD_PORT = 9100
DELAY_S = 0.010  # each way: 20 ms round trip
RATE = 25 * 1000 * 1000  # bytes/s per connection and direction


# -- the emulated link ---------------------------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=256)

    async def read() -> None:
        while data := await reader.read(64 * 1024):
            await queue.put((time.monotonic() + DELAY_S, data))
        await queue.put((0.0, b""))

    async def write() -> None:
        started, sent = time.monotonic(), 0
        while True:
            due, data = await queue.get()
            if not data:
                break
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            sent += len(data)
            ahead = started + sent / RATE - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(read(), write(), return_exceptions=True)


async def _serve(port: int, target: int) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


def _forwarder(port: int, target: int) -> None:
    asyncio.run(_serve(port, target))


# -- clients -------------------------------------------------------------------------------------------------------


def _ours(endpoint: str, bucket: str, files: list[Path]) -> None:
    from pymilvus_import import ObjectStorage, stage_files

    storage = ObjectStorage(
        f"s3://{bucket}/ours-{uuid.uuid4().hex[:6]}", endpoint=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    stage_files(storage, [[str(p)] for p in files])


def _floor(endpoint: str, bucket: str, files: list[Path]) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region="us-east-1",
        client_options={"allow_http": True},
    )
    prefix = f"floor-{uuid.uuid4().hex[:6]}"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda p: obstore.put(store, f"{prefix}/{p.name}", p, chunk_size=16 * MIB, max_concurrency=8), files
            )
        )


def _pymilvus_path(endpoint: str, bucket: str, files: list[Path]) -> None:
    from minio import Minio

    client = Minio(endpoint.split("//", 1)[1], access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
    prefix = f"minio-{uuid.uuid4().hex[:6]}"
    for path in files:
        client.fput_object(bucket, f"{prefix}/{path.name}", str(path))


CLIENTS: dict[str, Callable[[str, str, list[Path]], None]] = {
    "ours": _ours,
    "floor": _floor,
    "pymilvus": _pymilvus_path,
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(run: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    run()
    return time.perf_counter() - wall, _cpu() - cpu


def _write(path: Path, size: int) -> Path:
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(block)
    return path


def _empty_bucket(s3_client: Any, bucket: str) -> None:
    while True:
        listed = s3_client.list_objects_v2(Bucket=bucket)
        keys = [{"Key": o["Key"]} for o in listed.get("Contents", [])]
        if not keys:
            return
        s3_client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="the table on stderr, the results as one JSON line")
    parser.add_argument("--end-to-end", action="store_true", help="only the end-to-end row (Milvus on SeaweedFS)")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end_main()
        return
    big, small_n, restage_n, verify_n = (64 * MIB, 4, 10, 100) if args.quick else (1024 * MIB, 64, 100, 1000)
    results: dict[str, Any] = {"big_mib": big // MIB, "small_files": small_n, "rows": []}
    from pymilvus_import import ObjectNotFoundError, ObjectStorage, stage_files, verify_keys

    with tempfile.TemporaryDirectory(prefix="staging-bench-") as tmp:
        root = Path(tmp)
        workloads = {
            f"1 x {big // MIB} MiB": [_write(root / "big.bin", big)],
            f"{small_n} x 16 MiB": [_write(root / f"s{i:03d}.bin", 16 * MIB) for i in range(small_n)],
        }
        tiny = [root / "tiny" / f"t{i:03d}.json" for i in range(restage_n)]
        tiny[0].parent.mkdir()
        for i, path in enumerate(tiny):
            path.write_bytes(f'{{"rows": [{{"id": {i}}}]}}'.encode())
        with machine_lock(600), SeaweedFS(root / "s3") as s3:
            forwarder = multiprocessing.get_context("spawn").Process(
                target=_forwarder, args=(FORWARD_PORT, s3.port), daemon=True
            )
            forwarder.start()
            time.sleep(1.0)
            try:
                client = s3.boto3_client()
                bucket = "staging-bench"
                client.create_bucket(Bucket=bucket)
                links = {"loopback": s3.endpoint, "emulated 20 ms / 25 MB/s": f"http://127.0.0.1:{FORWARD_PORT}"}
                for link, endpoint in links.items():
                    for workload, files in workloads.items():
                        size = sum(p.stat().st_size for p in files)
                        row: dict[str, Any] = {"link": link, "workload": workload}
                        for name, upload in CLIENTS.items():
                            wall, cpu = _measure(lambda u=upload, f=files, e=endpoint: u(e, bucket, f))  # type: ignore[misc]
                            row[name] = {
                                "mb_s": size / MIB / wall,
                                "wall_s": wall,
                                "cpu_s_per_gb": cpu / (size / 2**30),
                            }
                            _empty_bucket(client, bucket)
                        results["rows"].append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                    storage = ObjectStorage(
                        f"s3://{bucket}/small", endpoint=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY
                    )
                    staged = stage_files(storage, [[str(p)] for p in tiny])
                    restage, _ = _measure(lambda s=storage: stage_files(s, [[str(p)] for p in tiny]))  # type: ignore[misc]
                    keys = [*staged.keys, *(f"small/missing-{i}.json" for i in range(verify_n - len(staged.keys)))]

                    def verify(s: ObjectStorage = storage, k: list[str] = keys) -> None:
                        with contextlib.suppress(ObjectNotFoundError):
                            verify_keys(s, k)

                    verified, _ = _measure(verify)
                    row = {"link": link, "restage_s": restage, "restage_files": restage_n, "verify_s": verified,
                           "verify_keys": verify_n}  # fmt: skip
                    results["rows"].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    _empty_bucket(client, bucket)
            finally:
                forwarder.terminate()
                forwarder.join(5)
        with machine_lock(600):
            if args.quick:
                results["end_to_end"] = end_to_end(root, 2, 1000, 8)
            else:
                results["end_to_end"] = end_to_end(root, E2E_GROUPS, E2E_ROWS, E2E_DIM)
    out = Path(__file__).with_name("results-staging-quick.json" if args.quick else "results-staging.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(results))


# -- end to end: local files -> completed import on Milvus-on-S3 --------------------------------------------------

E2E_BUCKET = "e2e-bucket"


def _e2e_ours(uri: str, endpoint: str, collection: str, groups: list[list[str]]) -> None:
    from pymilvus_import import ObjectStorage, bulk_import, new_bulk_import_option, wait_for_import

    storage = ObjectStorage(
        f"s3://{E2E_BUCKET}/ours-{uuid.uuid4().hex[:6]}",
        endpoint=endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    response = bulk_import(new_bulk_import_option(uri, collection, groups), storage=storage, upload=True)
    final = wait_for_import(uri, response, timeout=600)
    if any(p.state != "Completed" for p in final):
        raise RuntimeError(f"ours: not completed: {final}")


def _e2e_pymilvus(uri: str, endpoint: str, collection: str, groups: list[list[str]]) -> None:
    """What a pymilvus user does: RemoteBulkWriter's upload (``minio`` ``fput_object``, one file at a time), then
    ``utility.do_bulk_insert`` per group and polling ``get_bulk_insert_state`` until each task is done."""
    from minio import Minio
    from pymilvus import BulkInsertState, connections, utility

    client = Minio(endpoint.split("//", 1)[1], access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
    prefix = f"pymilvus-{uuid.uuid4().hex[:6]}"
    alias = f"e2e-{uuid.uuid4().hex[:6]}"
    connections.connect(alias, uri=uri)
    try:
        tasks = []
        for i, group in enumerate(groups):
            keys = []
            for path in group:
                key = f"{prefix}/{i}/{Path(path).name}"
                client.fput_object(E2E_BUCKET, key, path)
                keys.append(key)
            tasks.append(utility.do_bulk_insert(collection, files=keys, using=alias))
        for task in tasks:
            while True:
                state = utility.get_bulk_insert_state(task, using=alias)
                if state.state == BulkInsertState.ImportCompleted:
                    break
                if state.state in (BulkInsertState.ImportFailed, BulkInsertState.ImportFailedAndCleaned):
                    raise RuntimeError(f"pymilvus: task {task} failed: {state.failed_reason}")
                time.sleep(0.5)  # pymilvus's examples poll every few seconds; 0.5 s favours it
    finally:
        connections.disconnect(alias)


def end_to_end(root: Path, groups_n: int, rows: int, dim: int) -> dict[str, Any]:
    """Local NumPy groups -> completed import on the embedded Milvus 2.3.5 over SeaweedFS, ours vs pymilvus's path,
    each into a fresh collection (rows counted on the server)."""
    import numpy as np

    from tools.demo import drop_collection, pymilvus_client, row_count
    from tools.milvus_launcher import MilvusServer

    groups: list[list[str]] = []
    for g in range(groups_n):
        directory = root / "e2e" / f"g{g}"
        directory.mkdir(parents=True)
        ids = np.arange(g * rows, (g + 1) * rows, dtype=np.int64)
        np.save(directory / "id.npy", ids)
        np.save(directory / "vec.npy", np.random.default_rng(g).random((rows, dim), dtype=np.float32))
        groups.append([str(directory / "id.npy"), str(directory / "vec.npy")])
    size = sum(os.path.getsize(p) for g in groups for p in g)
    result: dict[str, Any] = {"groups": groups_n, "rows": groups_n * rows, "dim": dim, "mib": size / MIB}
    with SeaweedFS(root / "e2e-s3") as s3:
        s3.boto3_client().create_bucket(Bucket=E2E_BUCKET)
        milvus = MilvusServer(root / "e2e-milvus", s3.milvus_args(E2E_BUCKET))
        milvus.start(timeout=180)
        try:
            for name, run in (("ours", _e2e_ours), ("pymilvus", _e2e_pymilvus)):
                collection = f"e2e_{name}_{uuid.uuid4().hex[:6]}"
                from pymilvus import DataType

                with pymilvus_client(milvus.uri) as client:
                    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                    schema.add_field("id", DataType.INT64, is_primary=True)
                    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
                    index = client.prepare_index_params()
                    index.add_index("vec", index_type="FLAT", metric_type="L2")
                    client.create_collection(collection, schema=schema, index_params=index)
                wall, cpu = _measure(lambda r=run, c=collection: r(milvus.uri, s3.endpoint, c, groups))  # type: ignore[misc]
                counted = row_count(milvus.uri, collection)
                if counted != groups_n * rows:
                    raise RuntimeError(f"{name}: the server counts {counted} rows, expected {groups_n * rows}")
                result[name] = {"wall_s": wall, "client_cpu_s": cpu, "rows_counted": counted}
                print(json.dumps({"end_to_end": name, **result[name]}), file=sys.stderr, flush=True)
                drop_collection(milvus.uri, collection)
        finally:
            milvus.stop(grace=3.0)
            milvus.remove_binaries()
    return result


def end_to_end_main() -> None:
    """``python -m benchmarks._staging --end-to-end``: only the end-to-end row, merged into the results file."""
    out = Path(__file__).with_name("results-staging.json")
    with tempfile.TemporaryDirectory(prefix="staging-e2e-") as tmp, machine_lock(600):
        row = end_to_end(Path(tmp), E2E_GROUPS, E2E_ROWS, E2E_DIM)
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"rows": []}
    results["end_to_end"] = row
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_end_to_end(row, sys.stdout)


E2E_GROUPS, E2E_ROWS, E2E_DIM = 4, 50_000, 128


def print_end_to_end(row: dict[str, Any], stream: Any) -> None:
    o, p = row["ours"], row["pymilvus"]
    print(
        f"| end to end: {row['groups']} NumPy groups, {row['rows']:,} rows x dim {row['dim']} ({row['mib']:.0f} MiB), "
        f"local files -> completed import on Milvus-on-S3 | ours {o['wall_s']:.1f} s ({o['client_cpu_s']:.1f} CPU s) | "
        f"pymilvus {p['wall_s']:.1f} s ({p['client_cpu_s']:.1f} CPU s) | {p['wall_s'] / o['wall_s']:.2f}x |",
        file=stream,
    )


def print_table(results: dict[str, Any], stream: Any) -> None:
    print(
        "| link | workload | ours | floor (obstore.put) | pymilvus's path (minio fput_object) "
        "| ours/floor | ours/pymilvus |",
        file=stream,
    )
    print("|---|---|---|---|---|---|---|", file=stream)
    for row in results["rows"]:
        if "workload" not in row:
            continue
        o, f, p = row["ours"], row["floor"], row["pymilvus"]
        cell = lambda r: f"{r['mb_s']:.0f} MiB/s ({r['cpu_s_per_gb']:.1f} CPU s/GB)"  # noqa: E731
        print(
            f"| {row['link']} | {row['workload']} | {cell(o)} | {cell(f)} | {cell(p)} | "
            f"{o['mb_s'] / f['mb_s']:.2f}x | {o['mb_s'] / p['mb_s']:.2f}x |",
            file=stream,
        )
    if "end_to_end" in results:
        print_end_to_end(results["end_to_end"], stream)
    for row in results["rows"]:
        if "restage_s" in row:
            print(
                f"| {row['link']} | re-stage {row['restage_files']} unchanged files: {row['restage_s'] * 1000:.0f} ms;"
                f" verify {row['verify_keys']} keys: {row['verify_s'] * 1000:.0f} ms | | | | | |",
                file=stream,
            )


if __name__ == "__main__":
    main()
