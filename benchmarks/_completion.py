"""Completion detection on the real embedded Milvus 2.3.5: ``python -m benchmarks._completion ROWS REPEATS LOCK_WAIT
[RECORD [UNKNOWN_SAMPLES UNKNOWN_NO_PREFLIGHT_SAMPLES UNKNOWN_TIMEOUT]]`` (RECORD: a file where the server's process
group and directory are written, for the parent's cleanup). On the same server, ``_unknown`` then times the error
for an unknown collection with and without the preflight.

For each repetition: ``bulk_import`` a JSON file of ROWS rows, then at the same time

- a probe thread polls ``GetImportState`` every ~20 ms on a second channel with the raw generated stub and records
  every change of (state, progress) and when the server first reports a final state;
- the main thread runs ``ImportClient.wait_for_import`` on a channel wrapped by a counting interceptor, which also
  logs what each of its polls saw.

lag = (wait_for_import returned) - (probe first saw ImportCompleted). The probe's own period (~20 ms plus one RPC)
bounds how precisely that moment is known. The probe's timeline also lets us replay other poll schedules offline.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import grpc

from . import _unknown
from ._milvus import EmbeddedMilvus, machine_lock
from ._stats import emit

DIM = 8
PROBE_PERIOD = 0.02
FINAL = ("ImportCompleted", "ImportFailed", "ImportFailedAndCleaned")
#: (poll_initial, growth, poll_max, fraction): the library's current PollSchedule first, then candidates. With a
#: fraction, the interval is also capped at ``max(0.25 s, fraction x time since the wait began)``: fast polling
#: for short jobs, the same few polls as now for long ones.
SCHEDULES: dict[str, tuple[float, float, float, float]] = {
    "current 0.1s x1.5 -> 2.0s": (0.1, 1.5, 2.0, 0.0),
    "0.1s x1.5 -> 1.0s": (0.1, 1.5, 1.0, 0.0),
    "0.1s x1.5 -> 0.5s": (0.1, 1.5, 0.5, 0.0),
    "0.1s x1.5 -> 0.25s": (0.1, 1.5, 0.25, 0.0),
    "constant 0.2s": (0.2, 1.0, 0.2, 0.0),
    "0.1s x1.5 -> min(2.0s, max(0.25s, 5% elapsed))": (0.1, 1.5, 2.0, 0.05),
    "0.1s x1.5 -> min(2.0s, max(0.25s, 10% elapsed))": (0.1, 1.5, 2.0, 0.1),
}


def write_rows(path: Path, rows: int) -> int:
    """``{"rows": [{"id": i, "vec": [...]}, ...]}`` with DIM floats per row; returns the file size."""
    rng = random.Random(7)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write('{"rows":[')
        for start in range(0, rows, 10_000):
            chunk = []
            for i in range(start, min(rows, start + 10_000)):
                vec = ",".join(f"{rng.random():.4f}" for _ in range(DIM))
                chunk.append(f'{{"id":{i},"vec":[{vec}]}}')
            f.write(("," if start else "") + ",".join(chunk))
        f.write("]}")
    return path.stat().st_size


def create_collection(uri: str, name: str) -> None:
    warnings.simplefilter("ignore")
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri=uri)
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index_params)
    finally:
        client.close()


class PollCounter(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Counts GetImportState calls and logs (seconds since ``t0``, state, progress) of each reply."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.polls: list[tuple[float, str, int]] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        outcome = continuation(details, request)
        if details.method.endswith("/GetImportState"):
            from pymilvus_import._generated import common_pb2, milvus_pb2

            at = time.monotonic() - self.t0
            try:
                reply = milvus_pb2.GetImportStateResponse.FromString(outcome.result())
                infos = {kv.key: kv.value for kv in reply.infos}
                state = common_pb2.ImportState.Name(reply.state)
                self.polls.append((at, state, int(float(infos.get("progress_percent") or 0))))
            except Exception as exc:
                self.polls.append((at, f"error: {exc}", -1))
        return outcome


def probe(address: str, task: int, t0: float, out: dict[str, Any], stop: threading.Event) -> None:
    from pymilvus_import._generated import common_pb2, milvus_pb2
    from tools import milvus_pb2_grpc

    changes: list[tuple[float, str, int]] = []
    polls = 0
    with grpc.insecure_channel(address) as channel:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        request = milvus_pb2.GetImportStateRequest(task=task)
        while not stop.is_set():
            reply = stub.GetImportState(request, timeout=10)
            at = time.monotonic()
            polls += 1
            state = common_pb2.ImportState.Name(reply.state)
            infos = {kv.key: kv.value for kv in reply.infos}
            seen = (state, int(float(infos.get("progress_percent") or 0)))
            if not changes or changes[-1][1:] != seen:
                changes.append((at - t0, *seen))
            if state in FINAL:
                out["first_final_at"] = at
                out["final_state"] = state
                break
            time.sleep(PROBE_PERIOD)
    out["changes"] = changes
    out["probe_polls"] = polls


def replay(changes: list[tuple[float, str, int]], schedule: tuple[float, float, float, float]) -> tuple[float, float]:
    """Replay a poll schedule on the probe's timeline: mean (detection lag, polls) over start offsets 0-200 ms.

    Polls are taken as instantaneous, and where the final state falls between two polls is a matter of phase, so
    the schedule is replayed from 20 start offsets and averaged: an estimate of the expected lag, not a measurement.
    """
    runs = [_replay_once(changes, schedule, offset * 0.01) for offset in range(20)]
    return statistics.fmean(lag for lag, _ in runs), statistics.fmean(polls for _, polls in runs)


def _replay_once(
    changes: list[tuple[float, str, int]], schedule: tuple[float, float, float, float], start: float
) -> tuple[float, int]:
    initial, growth, maximum, fraction = schedule
    done_at = next(t for t, state, _ in changes if state in FINAL)

    def seen_at(t: float) -> tuple[str, int]:
        current = changes[0][1:]
        for at, state, progress in changes:
            if at > t:
                break
            current = (state, progress)
        return current

    t, previous, interval, polls = start, None, initial, 0
    while True:
        polls += 1
        now = seen_at(t)
        if now[0] in FINAL:
            return t - done_at, polls
        cap = min(maximum, max(0.25, fraction * (t - start))) if fraction else maximum
        interval = initial if now != previous else min(cap, interval * growth)
        previous = now
        t += interval


def one_run(server: EmbeddedMilvus, collection: str, path: str) -> dict[str, Any]:
    from pymilvus_import import ImportClient, new_bulk_import_option

    counter = PollCounter()
    channel = grpc.intercept_channel(grpc.insecure_channel(server.address), counter)
    client = ImportClient(channel=channel)
    option = new_bulk_import_option("", collection, [[path]])
    t0 = time.monotonic()
    response = client.bulk_import(option, timeout=60)
    submitted = time.monotonic() - t0
    task = int(response.data.job_id)
    seen: dict[str, Any] = {}
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(server.address, task, t0, seen, stop), daemon=True)
    thread.start()
    counter.t0 = t0
    counter.polls.clear()
    final = client.wait_for_import(response, timeout=900)
    returned_at = time.monotonic()
    thread.join(30)
    stop.set()
    channel.close()
    if "first_final_at" not in seen:
        raise RuntimeError(f"the probe never saw job {task} finish: {seen}")
    return {
        "job_id": task,
        "final_state": final[0].raw_state,
        "imported_rows": final[0].imported_rows,
        "submit_s": submitted,
        "import_s": seen["first_final_at"] - t0,
        "lag_ms": (returned_at - seen["first_final_at"]) * 1000,
        "wait_polls": len(counter.polls),
        "wait_poll_log": counter.polls,
        "probe_polls": seen["probe_polls"],
        "probe_changes": seen["changes"],
        "replayed": {
            name: dict(zip(("lag_ms", "polls"), (lag * 1000, polls), strict=True))
            for name, (lag, polls) in ((name, replay(seen["changes"], s)) for name, s in SCHEDULES.items())
        },
    }


def run(
    rows: int,
    repeats: int,
    lock_wait: float,
    record: Path | None = None,
    unknown: tuple[int, int, float] = (3, 1, 90.0),
) -> dict[str, Any]:
    started = time.monotonic()
    with machine_lock(lock_wait) as how, tempfile.TemporaryDirectory(prefix="pymilvus-import-bench-") as tmp:
        lock_wait_s = time.monotonic() - started
        server = EmbeddedMilvus(Path(tmp) / "milvus", record=record)
        try:
            server.start()
            setup = time.monotonic()
            collection = f"bench_{uuid.uuid4().hex[:10]}"
            create_collection(server.uri, collection)
            path = (server.data_dir / "bench" / "rows.json").resolve()
            size = write_rows(path, rows)
            setup_s = time.monotonic() - setup
            runs = [one_run(server, collection, str(path)) for _ in range(repeats)]
            unknown_started = time.monotonic()
            unknown_collection = _unknown.run(server.uri, str(path), *unknown)
            unknown_s = time.monotonic() - unknown_started
        finally:
            server.stop()
    lags = [r["lag_ms"] for r in runs]
    replayed = {
        name: {
            "median_lag_ms": statistics.median(r["replayed"][name]["lag_ms"] for r in runs),
            "median_polls": statistics.median(r["replayed"][name]["polls"] for r in runs),
        }
        for name in SCHEDULES
    }
    return {
        "server": "embedded Milvus 2.3.5 (milvus-server), started and stopped by the benchmark",
        "lock": how,
        "rows": rows,
        "file_bytes": size,
        "repeats": repeats,
        "timings_s": {
            "lock_wait": lock_wait_s,
            "port_wait (TIME_WAIT of a previous server)": server.port_wait_s,
            "milvus_startup": server.startup_s,
            "collection_and_file": setup_s,
            "imports": sum(r["import_s"] for r in runs),
            "unknown_collection": unknown_s,
            "milvus_stop": server.stop_s,
        },
        "median_lag_ms": statistics.median(lags),
        "lags_ms": lags,
        "median_wait_polls": statistics.median(r["wait_polls"] for r in runs),
        "median_import_s": statistics.median(r["import_s"] for r in runs),
        "replayed_schedules": replayed,
        "runs": runs,
        "unknown_collection": unknown_collection,
        "section_s": time.monotonic() - started,
    }


if __name__ == "__main__":
    rows_arg, repeats_arg, wait_arg = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    record_arg = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    unknown_arg = (int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])) if len(sys.argv) > 7 else (3, 1, 90.0)
    try:
        emit(run(rows_arg, repeats_arg, wait_arg, record_arg, unknown_arg))
    except TimeoutError as busy:
        emit({"skipped": f"skipped: {busy}"})
