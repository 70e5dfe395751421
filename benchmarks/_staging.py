"""Staging files into Milvus's bucket, measured: ``python -m benchmarks._staging [--quick]`` (under
``flock /tmp/pmi-servers.lock``: it starts SeaweedFS on the fixed port 9000).

Side by side, in one run, on two links:

- **ours**: ``stage_files`` (digest, HEAD, then one PUT for a file up to ``SINGLE_PUT_MAX``, else multipart with
  ``PARTS_IN_FLIGHT`` parts; the files in flight within ``UPLOAD_SLOTS`` parts of memory);
- **floor**: the chosen library's own best-case put of the same bytes (``obstore.put``, 16 MiB parts, 8 in flight,
  4 files at once; no digest, no HEAD);
- **pymilvus's path**: ``minio`` ``fput_object``, one file at a time (what RemoteBulkWriter does).

Links: **loopback** (the local SeaweedFS, on the same 2 cores, is the limit there) and an **emulated network
link** (:mod:`benchmarks._link`): a TCP forwarder, one process per connection, that delays every chunk by 10 ms each
way (20 ms round trip) and caps EACH connection at 25 MB/s each way with a token bucket, the per-flow limit that
makes real S3 clients open parallel connections. It is an emulation in user space (no packet loss, no congestion
control, no shared bottleneck), not a measurement of a real network; the run first measures the link itself
against a local sink (1, 4, 8, 16 connections) and keeps that in the results.

The machine is shared, so the clients run in paired rounds (default 3, each under the machine lock with a fresh
SeaweedFS), in forward order on even rounds and reversed on odd ones; the table gives medians and ranges, and the
ratios are paired (ours / other in the same round). Files are written, then left to settle for ``SETTLED_S``
before staging, as prepared files are (a file changed just before staging is hashed again while it is sent).

Part of ``python -m benchmarks`` (section ``staging``, with ``--json``). Also: re-staging 100 unchanged files
(HEADs only) and verifying 1,000 keys, wall time on both links. Client CPU seconds per GB come from ``getrusage``
of this process (all threads). Writes ``benchmarks/results-staging.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._link import check as check_link
from benchmarks._link import emulated_link
from benchmarks._milvus import machine_lock
from benchmarks._stats import summary
from pymilvus_import._storage import SETTLED_S
from tools.seaweedfs_launcher import ACCESS_KEY, SECRET_KEY, SeaweedFS

MIB = 1024 * 1024
FORWARD_PORT = 9100


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


def _round(
    root: Path, r: int, workloads: dict[str, list[Path]], tiny: list[Path], verify_n: int, samples: dict[str, Any]
) -> None:
    """One round under the machine lock (a fresh SeaweedFS): every workload on both links, the clients in turn,
    in forward order on even rounds and reversed on odd ones (the machine is shared: pairs, not absolutes)."""
    from pymilvus_import import ObjectNotFoundError, ObjectStorage, stage_files, verify_keys

    order = list(CLIENTS) if r % 2 == 0 else list(reversed(CLIENTS))
    with machine_lock(1500), SeaweedFS(root / f"s3-{r}") as s3, emulated_link(FORWARD_PORT, s3.port) as emulated:
        client = s3.boto3_client()
        bucket = "staging-bench"
        client.create_bucket(Bucket=bucket)
        for link, endpoint in {"loopback": s3.endpoint, EMULATED: emulated}.items():
            for workload, files in workloads.items():
                size = sum(p.stat().st_size for p in files)
                row = samples.setdefault(f"{link}|{workload}", {"link": link, "workload": workload, "bytes": size})
                for name in order:
                    upload = CLIENTS[name]
                    wall, cpu = _measure(lambda u=upload, f=files, e=endpoint: u(e, bucket, f))  # type: ignore[misc]
                    row.setdefault(name, []).append({"wall_s": wall, "cpu_s": cpu})
                    _empty_bucket(client, bucket)
                print(json.dumps({"round": r, "link": link, "workload": workload,
                                  **{n: row[n][-1] for n in CLIENTS}}), file=sys.stderr, flush=True)  # fmt: skip
            storage = ObjectStorage(
                f"s3://{bucket}/small", endpoint=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY
            )
            staged = stage_files(storage, [[str(p)] for p in tiny])
            restage, _ = _measure(lambda s=storage: stage_files(s, [[str(p)] for p in tiny]))  # type: ignore[misc]
            again = stage_files(storage, [[str(p)] for p in tiny])
            if again.uploaded:
                raise RuntimeError(f"re-staging unchanged files uploaded {len(again.uploaded)} of them")
            keys = [*staged.keys, *(f"small/missing-{i}.json" for i in range(verify_n - len(staged.keys)))]

            def verify(s: ObjectStorage = storage, k: list[str] = keys) -> None:
                with contextlib.suppress(ObjectNotFoundError):
                    verify_keys(s, k)

            verified, _ = _measure(verify)
            row = samples.setdefault(
                f"{link}|keys", {"link": link, "restage_files": len(tiny), "verify_keys": verify_n}
            )
            row.setdefault("restage_s", []).append(restage)
            row.setdefault("verify_s", []).append(verified)
            print(json.dumps({"round": r, "link": link, "restage_s": restage, "verify_s": verified}), file=sys.stderr)
            _empty_bucket(client, bucket)


def _rows(samples: dict[str, Any]) -> list[dict[str, Any]]:
    """Medians and ranges over the rounds; the ratios are paired (ours / other in the same round)."""
    rows = []
    for row in samples.values():
        if "workload" not in row:
            rows.append({**{k: v for k, v in row.items() if not k.endswith("_s")},
                         "restage_s": summary(row["restage_s"]), "verify_s": summary(row["verify_s"])})  # fmt: skip
            continue
        size = row["bytes"]
        out: dict[str, Any] = {"link": row["link"], "workload": row["workload"], "rounds": len(row["ours"])}
        for name in CLIENTS:
            out[name] = {
                "mb_s": summary([size / MIB / s["wall_s"] for s in row[name]]),
                "cpu_s_per_gb": summary([s["cpu_s"] / (size / 2**30) for s in row[name]]),
            }
        for other in ("floor", "pymilvus"):
            out[f"ours_over_{other}"] = summary(
                [o["wall_s"] and x["wall_s"] / o["wall_s"] for o, x in zip(row["ours"], row[other], strict=True)]
            )
        rows.append(out)
    return rows


EMULATED = "emulated 20 ms / 25 MB/s per connection"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="the table on stderr, the results as one JSON line")
    parser.add_argument("--end-to-end", action="store_true", help="only the end-to-end row (Milvus on SeaweedFS)")
    parser.add_argument("--rounds", type=int, help="paired rounds, client order alternating (default 3; 1 quick)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end row")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="add --rounds rounds to those in the results file (so that each run holds the machine lock briefly)",
    )
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end_main()
        return
    big, small_n, restage_n, verify_n = (64 * MIB, 4, 10, 100) if args.quick else (1024 * MIB, 64, 100, 1000)
    rounds = args.rounds or (1 if args.quick else 3)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg_at_start": os.getloadavg(),
        "big_mib": big // MIB,
        "small_files": small_n,
        "rounds": rounds,
    }
    samples: dict[str, Any] = {}
    out = Path(__file__).with_name("results-staging-quick.json" if args.quick else "results-staging.json")
    first = 0
    earlier = json.loads(out.read_text(encoding="utf-8")) if args.resume and out.exists() else {}
    if "samples" in earlier:
        samples, first = earlier["samples"], earlier["rounds_done"]
        results.update(
            {k: earlier[k] for k in ("date", "load_avg_at_start", "link_check", "end_to_end") if k in earlier}
        )
        results["dates"] = [
            *earlier.get("dates", [earlier["date"]]),
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        ]
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
        written = time.monotonic()
        # The link itself, against a local sink (no S3 server, no lock): 1 connection must stay at 25 MB/s.
        if "link_check" not in results:
            results["link_check"] = check_link((1, 4) if args.quick else (1, 4, 8, 16), 0.5 if args.quick else 2.0)
        # Files prepared ahead of staging, as usual: settled, so hashed once (a file changed in the last
        # SETTLED_S seconds is hashed again as it is sent).
        time.sleep(max(0.0, SETTLED_S - (time.monotonic() - written)))
        if args.no_end_to_end and out.exists() and not args.resume:  # keep the end-to-end row of the last run
            kept = json.loads(out.read_text(encoding="utf-8")).get("end_to_end")
            if kept is not None:
                results["end_to_end"] = kept
        for r in range(first, first + rounds):
            _round(root, r, workloads, tiny, verify_n, samples)
            results["rounds_done"] = results["rounds"] = r + 1
            results["samples"] = samples
            results["load_avg_at_end"] = os.getloadavg()
            results["rows"] = _rows(samples)
            out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")  # a long run keeps each round
        if not args.no_end_to_end:
            with machine_lock(1500):
                if args.quick:
                    results["end_to_end"] = end_to_end(root, 2, 1000, 8)
                else:
                    results["end_to_end"] = end_to_end(root, E2E_GROUPS, E2E_ROWS, E2E_DIM, E2E_ROUNDS)
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


def end_to_end(root: Path, groups_n: int, rows: int, dim: int, rounds: int = 1) -> dict[str, Any]:
    """Local NumPy groups -> completed import on the embedded Milvus 2.3.5 over SeaweedFS, ours vs pymilvus's path,
    each into a fresh collection (rows counted on the server), in ``rounds`` paired rounds on one server with the
    order of the two clients turning every round (the first import on a fresh server is slower: one fixed order
    cannot tell the clients from the server warming up). Wall and CPU are medians over the rounds; ``ratios`` are
    pymilvus's wall / ours per round."""
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
    clients = (("ours", _e2e_ours), ("pymilvus", _e2e_pymilvus))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in clients}
    with SeaweedFS(root / "e2e-s3") as s3:
        s3.boto3_client().create_bucket(Bucket=E2E_BUCKET)
        milvus = MilvusServer(root / "e2e-milvus", s3.milvus_args(E2E_BUCKET))
        milvus.start(timeout=180)
        try:
            for turn in range(rounds):
                for name, run in clients if turn % 2 == 0 else clients[::-1]:
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
                    samples[name].append((wall, cpu))
                    print(
                        json.dumps({"end_to_end": name, "round": turn, "wall_s": wall, "client_cpu_s": cpu}),
                        file=sys.stderr,
                        flush=True,
                    )
                    drop_collection(milvus.uri, collection)
        finally:
            milvus.stop(grace=3.0)
            milvus.remove_binaries()
    for name, got in samples.items():
        result[name] = {
            "wall_s": summary([w for w, _ in got])["median"],
            "client_cpu_s": summary([c for _, c in got])["median"],
            "rows_counted": groups_n * rows,
            "samples": [{"wall_s": w, "client_cpu_s": c} for w, c in got],
        }
    result["rounds"] = rounds
    result["ratios"] = [p[0] / o[0] for o, p in zip(samples["ours"], samples["pymilvus"], strict=True)]
    return result


def end_to_end_main() -> None:
    """``python -m benchmarks._staging --end-to-end``: only the end-to-end row, merged into the results file."""
    out = Path(__file__).with_name("results-staging.json")
    with tempfile.TemporaryDirectory(prefix="staging-e2e-") as tmp, machine_lock(600):
        row = end_to_end(Path(tmp), E2E_GROUPS, E2E_ROWS, E2E_DIM, E2E_ROUNDS)
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"rows": []}
    results["end_to_end"] = row
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_end_to_end(row, sys.stdout)


E2E_GROUPS, E2E_ROWS, E2E_DIM = 4, 50_000, 128
E2E_ROUNDS = 4  # paired rounds; the quick run does 1


def print_end_to_end(row: dict[str, Any], stream: Any) -> None:
    o, p = row["ours"], row["pymilvus"]
    print(
        f"| end to end: {row['groups']} NumPy groups, {row['rows']:,} rows x dim {row['dim']} ({row['mib']:.0f} MiB), "
        f"local files -> completed import on Milvus-on-S3 | ours {o['wall_s']:.1f} s ({o['client_cpu_s']:.1f} CPU s) | "
        f"pymilvus {p['wall_s']:.1f} s ({p['client_cpu_s']:.1f} CPU s) | {p['wall_s'] / o['wall_s']:.2f}x"
        + (f" (per round: {', '.join(f'{r:.2f}' for r in row['ratios'])})" if row.get("ratios") else "")
        + " |",
        file=stream,
    )


def print_table(results: dict[str, Any], stream: Any) -> None:
    link = results.get("link_check")
    if link:
        parts = [f"RTT {link['rtt_ms']:.1f} ms"] + [
            f"{k.split('_')[0]} conn: {v['aggregate_mb_s']:.0f} MB/s ({min(v['per_connection_mb_s']):.1f}-"
            f"{max(v['per_connection_mb_s']):.1f} each)"
            for k, v in link.items()
            if k.endswith("_connections")
        ]
        print("emulated link, measured against a sink: " + "; ".join(parts), file=stream)
    print(
        f"medians of {results.get('rounds', 1)} paired rounds [min-max]\n"
        "| link | workload | ours | floor (obstore.put) | pymilvus's path (minio fput_object) "
        "| ours/floor | ours/pymilvus |",
        file=stream,
    )
    print("|---|---|---|---|---|---|---|", file=stream)
    rng = lambda s, f="{:.0f}": f"{f.format(s['median'])} [{f.format(s['min'])}-{f.format(s['max'])}]"  # noqa: E731
    for row in results["rows"]:
        if "workload" not in row:
            continue
        cell = lambda r: f"{rng(r['mb_s'])} MiB/s ({r['cpu_s_per_gb']['median']:.1f} CPU s/GB)"  # noqa: E731
        print(
            f"| {row['link']} | {row['workload']} | {cell(row['ours'])} | {cell(row['floor'])} | "
            f"{cell(row['pymilvus'])} | {rng(row['ours_over_floor'], '{:.2f}')}x | "
            f"{rng(row['ours_over_pymilvus'], '{:.2f}')}x |",
            file=stream,
        )
    if "end_to_end" in results:
        print_end_to_end(results["end_to_end"], stream)
    for row in results["rows"]:
        if "restage_s" in row:
            print(
                f"| {row['link']} | re-stage {row['restage_files']} unchanged files: "
                f"{row['restage_s']['median'] * 1000:.0f} ms; verify {row['verify_keys']} keys: "
                f"{row['verify_s']['median'] * 1000:.0f} ms | | | | | |",
                file=stream,
            )


if __name__ == "__main__":
    main()
