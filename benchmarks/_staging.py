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
    args = parser.parse_args()
    big, small_n, restage_n, verify_n = (64 * MIB, 4, 10, 100) if args.quick else (1024 * MIB, 64, 100, 1000)
    results: dict[str, Any] = {"big_mib": big // MIB, "small_files": small_n, "rows": []}
    import boto3

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
                client = boto3.client(
                    "s3",
                    endpoint_url=s3.endpoint,
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=SECRET_KEY,
                    region_name="us-east-1",
                )
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
    out = Path(__file__).with_name("results-staging-quick.json" if args.quick else "results-staging.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(results))


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
    for row in results["rows"]:
        if "restage_s" in row:
            print(
                f"| {row['link']} | re-stage {row['restage_files']} unchanged files: {row['restage_s'] * 1000:.0f} ms;"
                f" verify {row['verify_keys']} keys: {row['verify_s'] * 1000:.0f} ms | | | | | |",
                file=stream,
            )


if __name__ == "__main__":
    main()
