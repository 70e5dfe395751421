"""Section ``files`` (issue 17): what the file checks cost, measured in-process on local files.

- header check per file and format (median of warm runs), and for 1,000 files of each format;
- a large Parquet file's header check: its time and the bytes read (the footer only, whatever the size);
- full-check throughput (MB/s) against the floor: the same file read (and its values decoded) by numpy, pyarrow,
  or the standard library alone. Ours and the floor run in paired rounds, alternating which goes first; the ratio is
  the median of the per-round ratios, with its spread (a 2-core machine shared with other work moves both sides).
- ``upload=True`` + ``validate="full"``: the bytes read from disk for the full check *and* the SHA-256 of a file to
  stage, per byte of the file (the digest is computed from the bytes the check reads: ``HashingLocalFile``), against
  the check followed by a digest from the start (what staging did before).

No server is involved: ``check_files`` is pure over its sources.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
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
#: Row 7j: a JSON field and the dynamic field, whose Parquet values the full check parses as JSON row by row.
SCHEMA_JSON = CollectionSchema(
    "bench_json",
    (
        FieldInfo("id", "Int64", is_primary=True),
        FieldInfo("vec", "FloatVector", type_params={"dim": str(DIM)}),
        FieldInfo("j", "JSON"),
        FieldInfo("$meta", "JSON", is_dynamic=True),
    ),
    enable_dynamic_field=True,
)
VERSION = (2, 5, 10)
TARGET = 0.7


class _Counting(LocalFile):
    read_bytes = 0
    reads = 0

    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        _Counting.read_bytes += len(data)
        _Counting.reads += 1
        return data

    def readinto(self, offset: int, buffer: memoryview) -> int:
        count = super().readinto(offset, buffer)
        _Counting.read_bytes += count
        _Counting.reads += 1
        return count


class _CountingHashing(HashingLocalFile):
    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        _Counting.read_bytes += len(data)
        return data

    def readinto(self, offset: int, buffer: memoryview) -> int:
        count = super().readinto(offset, buffer)
        _Counting.read_bytes += count
        return count


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


MB, GB = 10**6, 10**9
#: Rows of the one batch the large Parquet files repeat (~130 MB uncompressed: one row group per write).
BIG_BATCH_ROWS = 250_000


def _big_parquet(directory: Path, size: int, runs: int) -> dict[str, Any]:
    """The header check (footer only) of a Parquet file of at least ``size`` bytes, written for the purpose from
    one random batch written again and again (compression and dictionary off: the bytes are what they weigh) and
    deleted afterwards; skipped, saying so, when the disk has not that much room free (plus 1 GB)."""
    free = shutil.disk_usage(directory).free
    if free < size + GB:
        return {"target_mb": size / MB, "skipped": f"{free / GB:.1f} GB free on the temp disk"}
    path = directory / "big.parquet"
    rng = np.random.default_rng(2)
    rows = BIG_BATCH_ROWS if size >= GB else 10_000
    values = pa.array(rng.random(rows * DIM, dtype=np.float32))
    vectors = pa.ListArray.from_arrays(pa.array(np.arange(0, (rows + 1) * DIM, DIM, dtype=np.int32)), values)
    batch = pa.table({"id": pa.array(np.arange(rows)), "s": pa.array(["x"] * rows), "vec": vectors})
    started = time.perf_counter()
    groups = 0
    with pq.ParquetWriter(path, batch.schema, compression="none", use_dictionary=False) as writer:
        while path.stat().st_size < size:
            writer.write_table(batch)
            groups += 1
    write_s = time.perf_counter() - started
    try:
        _Counting.read_bytes = _Counting.reads = 0
        ms = _median_ms(lambda: check_files(SCHEMA, VERSION, [[str(path)]], _Counting), runs)
        return {
            "size_mb": path.stat().st_size / MB,
            "row_groups": groups,
            "write_s": write_s,
            "header_ms": ms,
            "bytes_read_per_check": _Counting.read_bytes // (runs + 1),
            "reads_per_check": _Counting.reads // (runs + 1),
        }
    finally:
        path.unlink()


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def paired(
    mb: float, ours: Callable[[], object], others: Mapping[str, Callable[[], object]], rounds: int
) -> dict[str, Any]:
    """``ours`` and each of ``others`` once per round, the order turning every round (after one warm-up run of
    each); per reader the median MB/s, and per other reader the median and range of the per-round ratios
    ours MB/s / its MB/s (= its time / ours)."""
    readers = {"ours": ours, **others}
    for fn in readers.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in readers}
    names = list(readers)
    for index in range(rounds):
        turn = index % len(names)
        for name in names[turn:] + names[:turn]:
            times[name].append(_seconds(readers[name]))
    out: dict[str, Any] = {"mb": mb, "rounds": rounds, "seconds": times}
    out["mb_s"] = {name: mb / statistics.median(samples) for name, samples in times.items()}
    out["ratio"] = {}
    for name in others:
        ratios = [theirs / mine for theirs, mine in zip(times[name], times["ours"], strict=True)]
        out["ratio"][name] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return out


def _write(directory: Path, rows: int, row_rows: int) -> dict[str, list[str]]:
    """The NumPy group and the Parquet file of ``rows`` rows; JSON, JSON Lines and CSV of ``row_rows`` rows."""
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
    json_rows = [{"id": i, "s": f"s{i}", "vec": [round(float(x), 4) for x in vectors[i]]} for i in range(row_rows)]
    (directory / "r.json").write_text(json.dumps(json_rows))
    with open(directory / "r.jsonl", "w") as handle:  # the same rows for pyarrow.json, which reads JSON Lines only
        handle.writelines(json.dumps(row) + "\n" for row in json_rows)
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


def _csv_decoded(path: str) -> None:
    """The standard library's C reader over every record, and each cell decoded as the check must (int, JSON)."""
    with open(path, newline="", encoding="utf-8") as handle:
        records = csv.reader(handle)
        next(records)
        for id_text, _s, vec_text in records:
            int(id_text)
            json.loads(vec_text)


def run(quick: bool = False) -> dict[str, Any]:
    rows = 20_000 if quick else 200_000
    row_rows = 2_000 if quick else 20_000  # JSON / CSV rows (~21 MB each full)
    big_sizes = (50 * MB,) if quick else (1 * GB, 10 * GB)  # the large Parquet files (footer-only header check)
    runs = 5 if quick else 30
    many = 50 if quick else 1000
    rounds = 5 if quick else 9
    out: dict[str, Any] = {"rows": rows, "row_rows": row_rows, "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-files-") as name:
        directory = Path(name)
        groups = _write(directory, rows, row_rows)
        header: dict[str, float] = {}
        for kind, group in groups.items():
            header[kind] = _median_ms(lambda g=group: check_files(SCHEMA, VERSION, [g], LocalFile), runs)  # type: ignore[misc]
        out["header_ms"] = header
        out["header_files"] = {kind: len(group) for kind, group in groups.items()}

        out["header_many"] = {}
        for kind, group in groups.items():
            started = time.perf_counter()
            check_files(SCHEMA, VERSION, [group] * many, LocalFile)
            total = (time.perf_counter() - started) * 1000
            out["header_many"][kind] = {"groups": many, "files": len(group) * many, "total_ms": total}

        out["big_parquet"] = [_big_parquet(directory, size, runs) for size in big_sizes]

        def full(group: list[str]) -> Callable[[], object]:
            def check() -> None:
                report = check_files(SCHEMA, VERSION, [group], LocalFile, full=True)
                assert report.ok, report.problems  # a clean file: the whole file is read

            return check

        # Ours checks the group of three; of them only vec.npy has values a rule reads (the ids are int64, the
        # strings cannot exceed max_length), so the floor is that file's load and scan.
        vec = groups["numpy"][2]
        out["full_numpy"] = paired(
            Path(vec).stat().st_size / 1e6,
            full(groups["numpy"]),
            {"np.load + isfinite": lambda: bool(np.isfinite(np.load(vec)).all())},
            rounds,
        )

        parquet = groups["parquet"][0]

        def parquet_floor() -> object:
            table = pq.read_table(parquet)
            return pc.max(pc.binary_length(table.column("s"))), pc.list_value_length(table.column("vec"))

        out["full_parquet"] = paired(
            Path(parquet).stat().st_size / 1e6,
            full(groups["parquet"]),
            {"pq.read_table + length kernels": parquet_floor},
            rounds,
        )

        json_parquet = directory / "j.parquet"
        vectors = np.random.default_rng(3).random((rows, DIM), dtype=np.float32)
        texts = {
            "j": [json.dumps({"a": i, "b": f"s{i}", "c": [i, i + 1]}) for i in range(rows)],
            "$meta": [json.dumps({"k": i}) for i in range(rows)],
        }
        pq.write_table(
            pa.table({"id": np.arange(rows), "vec": pa.array(list(vectors), pa.list_(pa.float32())), **texts}),
            json_parquet,
        )

        def parquet_json_floor() -> None:
            table = pq.read_table(json_parquet)
            for name in texts:
                for text in table.column(name).to_pylist():
                    json.loads(text)

        def parquet_json_ours() -> None:
            report = check_files(SCHEMA_JSON, VERSION, [[str(json_parquet)]], LocalFile, full=True)
            assert report.ok, report.problems

        out["full_parquet_json"] = paired(
            json_parquet.stat().st_size / 1e6,
            parquet_json_ours,
            {"pq.read_table + json.loads per JSON/$meta value": parquet_json_floor},
            rounds,
        )

        csv_path = groups["csv"][0]
        out["full_csv"] = paired(
            Path(csv_path).stat().st_size / 1e6,
            full(groups["csv"]),
            {
                "csv.reader + int/json.loads per cell": lambda: _csv_decoded(csv_path),
                "pyarrow.csv.read_csv (text only)": lambda: pa_csv.read_csv(csv_path),
            },
            rounds,
        )

        json_path = groups["json"][0]

        def json_load() -> object:
            with open(json_path, encoding="utf-8") as handle:
                return json.load(handle)

        jsonl = str(directory / "r.jsonl")
        out["full_json"] = paired(
            Path(json_path).stat().st_size / 1e6,
            full(groups["json"]),
            {"json.load": json_load, "pyarrow.json.read_json (JSON Lines copy)": lambda: pa_json.read_json(jsonl)},
            rounds,
        )
        out["full_check_and_digest"] = full_check_and_digest(groups)  # while the files exist
    out["loadavg_end"] = os.getloadavg()
    return out


#: The full-check rows: results key, row number, what is read, the floor (the first other reader).
FULL_ROWS = (
    ("full_numpy", "7d", "NumPy float32 vectors (group of 3 files; MB of vec.npy)"),
    ("full_parquet", "7e", "Parquet"),
    ("full_csv", "7g", "CSV (vectors as JSON text)"),
    ("full_json", "7h", "JSON (row list)"),
    ("full_parquet_json", "7j", "Parquet with a JSON column and $meta (both parsed row by row)"),
)


def table_rows(files: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The ``files`` rows of the benchmark table: (#, measurement, ours, floor, ratio, target, verdict)."""
    counts = files["header_files"]
    per = ", ".join(
        f"{kind} {ms:.2f} ms" + (f" (a group of {counts[kind]} files)" if counts[kind] > 1 else "")
        for kind, ms in files["header_ms"].items()
    )
    what = f"{files['rows']:,} rows; JSON/CSV {files['row_rows']:,} rows, of which the JSON check parses 100"
    rows: list[tuple[str, ...]] = [("7a", f"header check of one file, warm median ({what})", per, "", "", "info", "")]
    many = files["header_many"]
    text = ", ".join(
        f"{kind} {m['total_ms']:.0f} ms ({m['total_ms'] / m['files'] * 1000:.0f} µs/file)" for kind, m in many.items()
    )
    groups = many["numpy"]["groups"]
    rows.append(
        ("7b", f"header check of {groups:,} files of each format (NumPy: groups of 3)", text, "", "", "info", "")
    )
    rows.append(_big_row(files["big_parquet"]))
    for key, number, kind in FULL_ROWS:
        part = files[key]
        names = list(part["ratio"])
        floors = "; ".join(f"{part['mb_s'][n]:,.0f} MB/s (`{n}`)" for n in names)
        ratios = "; ".join(
            f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})" for r in (part["ratio"][n] for n in names)
        )
        ok = part["ratio"][names[0]]["median"] >= TARGET
        measurement = f"full check throughput, {kind} ({part['mb']:.0f} MB; {part['rounds']} paired rounds)"
        ours = f"{part['mb_s']['ours']:,.0f} MB/s"
        rows.append((number, measurement, ours, floors, ratios, f"≥ {TARGET}x the first floor", _met(ok)))
    both = files.get("full_check_and_digest")
    if both:
        ours = ", ".join(f"{k} {p['ours_read_x']:.2f}x ({p['ours_ms']:.0f} ms)" for k, p in both.items())
        before = ", ".join(f"{k} {p['before_read_x']:.2f}x ({p['before_ms']:.0f} ms)" for k, p in both.items())
        ok = all(p["ours_read_x"] <= p["before_read_x"] - 0.9 for p in both.values())
        measurement = 'upload=True + validate="full": disk bytes read for the full check and the digest, per file byte'
        rows.append(("7i", measurement, ours, f"before: {before} (check, then the digest from the start)", "",
                     "one read of each file fewer", _met(ok)))  # fmt: skip
    return rows


def _big_row(bigs: list[dict[str, Any]]) -> tuple[str, ...]:
    """Row 7c: the footer-only header check of each large Parquet file; met when the largest one (≥ 10 GB in the
    full run) takes milliseconds (under 10 ms) and reads under 1 MB (its footer: it grows with the row groups, not
    with the data)."""
    cells, done = [], [b for b in bigs if "skipped" not in b]
    for b in bigs:
        if "skipped" in b:
            cells.append(f"{b['target_mb']:,.0f} MB file skipped: {b['skipped']}")
        else:
            cells.append(f"{b['size_mb']:,.0f} MB ({b['row_groups']} row groups): {b['header_ms']:.2f} ms, "
                         f"{b['bytes_read_per_check']:,} bytes in {b['reads_per_check']} read(s)")  # fmt: skip
    verdict = ""
    if done:
        large = done[-1]
        verdict = _met(large["header_ms"] < 10 and large["bytes_read_per_check"] < MB)
    what = "header check of large Parquet files (footer only; compression and dictionary off)"
    return ("7c", what, "; ".join(cells), "", "", "< 10 ms and < 1 MB read, whatever the size", verdict)


def _met(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


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
        result = run("--quick" in sys.argv)
        print(json.dumps(result, indent=1))
        print("| # | measurement | ours | floor | ratio: median (range) of paired rounds | target | |")
        print("|---|---|---|---|---|---|---|")
        for cells in table_rows(result):
            print("| " + " | ".join(cells) + " |")
        print(f"load average {result['loadavg_start'][0]:.2f} -> {result['loadavg_end'][0]:.2f}")
