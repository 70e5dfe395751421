"""Staging and key verification as steps of the one import flow, driven with ``helpers.MockTransport`` (no network).

``bulk_import(..., storage=, upload=True)`` is one flow: the preflight with its file checks (the local files to stage
read from this disk), then staging (hash, HEAD, upload), then the verification of every other key (HEAD), then the
Imports. The bucket here is a dictionary (:class:`FakeBucket`, patched in for ``_storage``'s I/O functions); the
flow, its decisions and its errors are the library's own. The same steps against a real S3 server and a real Milvus
are in ``test_storage_milvus.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MockTransport
from hypothesis import given, settings
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import import _storage
from pymilvus_import._calls import CallOptions
from pymilvus_import._effects import Rpc, Work
from pymilvus_import._files.source import BytesSource, HashingLocalFile, SourceUnreadable
from pymilvus_import._generated import common_pb2, milvus_pb2, schema_pb2
from pymilvus_import._transport import AsyncTransport, SyncTransport, run_cancellable

STORAGE = pi.ObjectStorage("s3://milvus-bucket/staged", endpoint="http://127.0.0.1:9", access_key="a", secret_key="b")
URI = "http://127.0.0.1:19530"  # never dialled: the flows run on a MockTransport
DIM = 4


def describe_bytes() -> bytes:
    schema = schema_pb2.CollectionSchema(
        name="books",
        fields=[
            schema_pb2.FieldSchema(name="id", data_type=schema_pb2.Int64, is_primary_key=True),
            schema_pb2.FieldSchema(
                name="vec",
                data_type=schema_pb2.FloatVector,
                type_params=[common_pb2.KeyValuePair(key="dim", value=str(DIM))],
            ),
        ],
    )
    reply = milvus_pb2.DescribeCollectionResponse(status=common_pb2.Status(), schema=schema)
    return reply.SerializeToString()


def version_bytes(version: str = "v2.4.10") -> bytes:
    return milvus_pb2.GetVersionResponse(status=common_pb2.Status(), version=version).SerializeToString()


def import_bytes(task: int) -> bytes:
    return milvus_pb2.ImportResponse(status=common_pb2.Status(), tasks=[task]).SerializeToString()


def refused_bytes() -> bytes:
    status = common_pb2.Status(code=1100, reason="collection is being dropped")
    return milvus_pb2.ImportResponse(status=status).SerializeToString()


def rows_json(path: Path, n: int = 3, *, vector: bool = True) -> str:
    rows = [{"id": i, **({"vec": [0.5] * DIM} if vector else {})} for i in range(n)]
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class FakeBucket:
    """Milvus's bucket as a dictionary, in place of ``_storage``'s request functions; ``log`` is every request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, objects: dict[str, bytes] | None = None) -> None:
        self.objects: dict[str, tuple[bytes, str | None]] = {
            k: (v, hashlib.sha256(v).hexdigest()) for k, v in (objects or {}).items()
        }
        self.log: list[tuple[str, str]] = []
        self.fail_upload: BaseException | None = None
        monkeypatch.setattr(_storage, "head_objects", self.head_objects)
        monkeypatch.setattr(_storage, "upload_files", self.upload_files)
        monkeypatch.setattr(_storage, "head_keys", self.head_keys)
        monkeypatch.setattr(_storage, "open_key", self.open_key)

    def head_objects(self, storage: pi.ObjectStorage, keys: list[str]) -> dict[str, Any]:
        self.log.extend(("HEAD", k) for k in keys)
        return {
            k: _storage.RemoteObject(len(self.objects[k][0]), self.objects[k][1]) if k in self.objects else None
            for k in keys
        }

    def upload_files(
        self, storage: pi.ObjectStorage, files: Any, on_progress: Any, cancel: threading.Event, *, done: list[str]
    ) -> tuple[tuple[str, ...], int]:
        sent, total = 0, sum(f.size for _, f in files)
        for key, local in files:
            if self.fail_upload is not None:
                raise self.fail_upload
            data = Path(local.path).read_bytes()
            self.objects[key] = (data, local.digest)
            self.log.append(("PUT", key))
            done.append(key)
            sent += len(data)
            if on_progress is not None:
                on_progress(pi.StagingProgress(sent, total, len(done), len(files)))
        return tuple(k for k, _ in files), sent

    def head_keys(self, storage: pi.ObjectStorage, keys: list[str]) -> tuple[tuple[Any, ...], frozenset[str]]:
        self.log.extend(("HEAD", k) for k in keys)
        checks = tuple(_storage.key_check(k, len(self.objects[k][0]) if k in self.objects else None) for k in keys)
        return checks, frozenset(k for k in keys if os.path.isfile(k))

    def open_key(self, storage: pi.ObjectStorage, key: str) -> BytesSource:
        self.log.append(("GET", key))
        if key not in self.objects:
            raise SourceUnreadable(f"no key {key!r}")
        return BytesSource(key, self.objects[key][0])


def steps(server: MockTransport) -> list[str]:
    """The effects a flow yielded, in order, by name: RPC method names and Work names."""
    names = []
    for effect in server.effects:
        if isinstance(effect, Rpc):
            names.append(effect.method.rsplit("/", 1)[-1])
        elif isinstance(effect, Work):
            names.append(effect.what)
    return names


def answers(*imports: Any) -> dict[str, list[Any]]:
    return {
        "GetVersion": [version_bytes()],
        "DescribeCollection": [describe_bytes()],
        "Import": list(imports) or [import_bytes(1)],
    }


def run_import(
    server: MockTransport,
    files: list[list[str]],
    *,
    upload: bool = True,
    dry_run: bool = False,
    validate: str = "header",
    on_upload_progress: Any = None,
) -> Any:
    with pi.ImportClient(URI, storage=STORAGE) as client:
        option = pi.new_bulk_import_option("", "books", files)
        flow = client._bulk_import(option, CallOptions(), None, dry_run, validate, None, upload, on_upload_progress)
        return server.run(flow)


def test_checks_then_staging_then_verification_then_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bucket = FakeBucket(monkeypatch, {"import/there.json": b'{"rows": [{"id": 9, "vec": [1, 2, 3, 4]}]}'})
    local = rows_json(tmp_path / "rows.json")
    progress: list[pi.StagingProgress] = []
    server = MockTransport(answers(import_bytes(1), import_bytes(2)))

    response = run_import(
        server, [[local], ["s3://milvus-bucket/import/there.json"]], on_upload_progress=progress.append
    )

    assert steps(server) == [
        "DescribeCollection",
        "GetVersion",  # the file rules of this server version
        "check files",
        "hash local files",
        "HEAD staged keys",
        "upload",
        "Import",
        "Import",
    ]
    key = f"staged/{sha(local)}/rows.json"
    # The file check read the key in the bucket (its HEAD is also the key's verification) before anything was
    # uploaded; the upload came before the Imports.
    assert bucket.log == [("GET", "import/there.json"), ("HEAD", key), ("PUT", key)]
    assert [list(r.files) for r in server.requests()] == [[key], ["import/there.json"]]
    assert response.job_ids == ("1", "2")
    assert response.files == ((key,), ("import/there.json",)) and response.staged_keys == (key,)
    assert response.staged is not None and response.staged.uploaded == (key,) and response.staged.skipped == ()
    assert progress[-1].bytes_done == progress[-1].bytes_total == os.path.getsize(local)


def test_keys_the_checks_did_not_read_are_verified_after_staging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket = FakeBucket(monkeypatch, {"import/there.json": b'{"rows": [{"id": 9, "vec": [1, 2, 3, 4]}]}'})
    local = rows_json(tmp_path / "rows.json")
    server = MockTransport(answers(import_bytes(1), import_bytes(2)))
    run_import(server, [[local], ["import/there.json"]], validate="off")
    assert (
        steps(server)
        == ["DescribeCollection", "hash local files", "HEAD staged keys", "upload", "HEAD keys"] + ["Import"] * 2
    )
    key = f"staged/{sha(local)}/rows.json"
    assert bucket.log == [("HEAD", key), ("PUT", key), ("HEAD", "import/there.json")]


def test_an_empty_key_is_the_key_verifications_verdict_not_the_file_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    FakeBucket(monkeypatch, {"import/empty.json": b""})
    local = rows_json(tmp_path / "rows.json")
    server = MockTransport(answers())
    with pytest.raises(pi.EmptyObjectError) as raised:
        run_import(server, [[local], ["import/empty.json"]])
    assert raised.value.keys == ("import/empty.json",)
    assert raised.value.staged_keys == (f"staged/{sha(local)}/rows.json",)  # type: ignore[attr-defined]
    assert server.rpcs("Import") == []


def test_a_bad_local_file_is_refused_before_any_byte_is_uploaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket = FakeBucket(monkeypatch)
    good = rows_json(tmp_path / "good.json")
    bad = rows_json(tmp_path / "bad.json", vector=False)
    server = MockTransport(answers())
    with pytest.raises(pi.FileMismatchError) as raised:
        run_import(server, [[good], [bad]])
    assert [(p.file, p.field) for p in raised.value.problems] == [(bad, "vec")]
    assert bucket.log == [] and "upload" not in steps(server) and server.rpcs("Import") == []


def test_a_missing_key_is_refused_after_staging_naming_the_keys_staged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    FakeBucket(monkeypatch)
    local = rows_json(tmp_path / "rows.json")
    server = MockTransport(answers())
    with pytest.raises(pi.ObjectNotFoundError) as raised:
        run_import(server, [[local], ["import/nope.json"]])
    assert raised.value.keys == ("import/nope.json",)
    assert raised.value.staged_keys == (f"staged/{sha(local)}/rows.json",)  # type: ignore[attr-defined]
    assert server.rpcs("Import") == []


def test_a_refused_import_names_the_keys_staged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    FakeBucket(monkeypatch)
    first, second = rows_json(tmp_path / "a.json"), rows_json(tmp_path / "b.json", n=4)
    server = MockTransport(answers(import_bytes(7), refused_bytes()))
    with pytest.raises(pi.BulkImportError) as raised:
        run_import(server, [[first], [second]])
    keys = {f"staged/{sha(first)}/a.json", f"staged/{sha(second)}/b.json"}
    assert set(raised.value.staged_keys) == keys  # type: ignore[attr-defined]
    assert raised.value.created_job_ids == ("7",)


def test_a_failed_upload_names_the_keys_already_there_and_sends_no_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    there = rows_json(tmp_path / "there.json")
    bucket = FakeBucket(monkeypatch, {f"staged/{sha(there)}/there.json": Path(there).read_bytes()})
    new = rows_json(tmp_path / "new.json", n=5)
    bucket.fail_upload = pi.StorageError("uploading new.json failed", bucket="milvus-bucket")
    server = MockTransport(answers())
    with pytest.raises(pi.StorageError) as raised:
        run_import(server, [[there], [new]])
    assert raised.value.staged_keys == (f"staged/{sha(there)}/there.json",)
    assert server.rpcs("Import") == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), asyncio.CancelledError()])
def test_an_interrupted_upload_names_the_keys_already_staged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, interruption: BaseException
) -> None:
    there = rows_json(tmp_path / "there.json")
    FakeBucket(monkeypatch, {f"staged/{sha(there)}/there.json": Path(there).read_bytes()}).fail_upload = interruption
    server = MockTransport(answers())
    with pytest.raises(type(interruption)) as raised:
        run_import(server, [[there], [rows_json(tmp_path / "new.json", n=5)]])
    assert raised.value.staged_keys == (f"staged/{sha(there)}/there.json",)  # type: ignore[attr-defined]
    assert any("keys already staged" in note for note in getattr(raised.value, "__notes__", []))
    assert server.rpcs("Import") == []


def test_a_dry_run_plans_the_uploads_verifies_the_keys_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket = FakeBucket(monkeypatch, {"import/there.json": b'{"rows": [{"id": 9, "vec": [1, 2, 3, 4]}]}'})
    local = rows_json(tmp_path / "rows.json")
    server = MockTransport(answers())
    plan = run_import(server, [[local], ["milvus-bucket/import/there.json"]], dry_run=True)
    key = f"staged/{sha(local)}/rows.json"
    shown = plan.to_dict()["storage"]
    assert shown["files"] == [[key], ["import/there.json"]]
    assert shown["staged"]["dry_run"] is True and shown["staged"]["uploaded"] == [key]
    assert shown["verified"] == [{"key": "import/there.json", "outcome": "present", "reason": ""}]
    assert [r.files for r in plan.requests] == [(key,), ("import/there.json",)]
    assert ("PUT", key) not in bucket.log and server.rpcs("Import") == []


def test_a_dry_run_refuses_a_missing_key_and_names_no_key_staged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local = rows_json(tmp_path / "rows.json")
    FakeBucket(monkeypatch, {f"staged/{sha(local)}/rows.json": Path(local).read_bytes()})  # found: would be skipped
    with pytest.raises(pi.ObjectNotFoundError) as raised:
        run_import(MockTransport(answers()), [[local], ["import/nope.json"]], dry_run=True)
    assert not getattr(raised.value, "staged_keys", ())


def test_a_file_already_in_the_bucket_is_not_sent_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local = rows_json(tmp_path / "rows.json")
    key = f"staged/{sha(local)}/rows.json"
    bucket = FakeBucket(monkeypatch, {key: Path(local).read_bytes()})
    server = MockTransport(answers())
    response = run_import(server, [[local]])
    assert "upload" not in steps(server) and ("PUT", key) not in bucket.log
    assert response.staged_keys == (key,) and response.staged.skipped == (key,)


def test_without_the_preflight_nothing_is_checked_or_verified(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    FakeBucket(monkeypatch)
    local = rows_json(tmp_path / "rows.json", vector=False)  # bad, but not checked
    server = MockTransport(answers())
    with pi.ImportClient(URI, storage=STORAGE, preflight=False) as client:
        option = pi.new_bulk_import_option("", "books", [[local], ["import/nope.json"]])
        server.run(client._bulk_import(option, CallOptions(), None, False, None, None, True))
    assert steps(server) == ["hash local files", "HEAD staged keys", "upload", "Import", "Import"]


def test_another_bucket_and_two_forms_of_one_key_are_refused_before_any_effect(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket = FakeBucket(monkeypatch)
    local = rows_json(tmp_path / "rows.json")
    for files in ([[local], ["s3://other-bucket/a.json"]], [["a.json"], ["s3://milvus-bucket/a.json"]]):
        server = MockTransport(answers())
        with pytest.raises(pi.InvalidInputError):
            run_import(server, files)
        assert server.effects == [] and bucket.log == []


@pytest.mark.parametrize("callback", [5, "print", object()])
def test_on_upload_progress_that_cannot_be_called_is_refused_before_any_rpc(callback: Any, tmp_path: Path) -> None:
    with pi.ImportClient(URI, storage=STORAGE) as client:
        option = pi.new_bulk_import_option("", "books", [[rows_json(tmp_path / "rows.json")]])
        with pytest.raises(pi.InvalidInputError, match="on_upload_progress") as raised:
            client.bulk_import(option, upload=True, on_upload_progress=callback)
        assert raised.value.field == "on_upload_progress"


def test_on_upload_progress_that_is_async_or_takes_no_argument_is_refused(tmp_path: Path) -> None:
    async def later(progress: pi.StagingProgress) -> None: ...

    option = pi.new_bulk_import_option("", "books", [[rows_json(tmp_path / "rows.json")]])
    for callback in (later, lambda: None):
        with pi.ImportClient(URI, storage=STORAGE) as client, pytest.raises(pi.InvalidInputError):
            client.bulk_import(option, upload=True, on_upload_progress=callback)

        async def main(callback: Any = callback) -> None:
            async with pi.AsyncImportClient(URI, storage=STORAGE) as aclient:
                await aclient.bulk_import(option, upload=True, on_upload_progress=callback)

        with pytest.raises(pi.InvalidInputError):
            asyncio.run(main())
        with pytest.raises(pi.InvalidInputError):
            pi.bulk_import(pi.new_bulk_import_option(URI, "books", [["a.json"]]), on_upload_progress=callback)


# -- one read of a file for its full check and its digest -------------------------------------------------------


def numpy_group(directory: Path, n: int) -> list[str]:
    import numpy as np

    np.save(directory / "id.npy", np.arange(n, dtype=np.int64))
    np.save(directory / "vec.npy", np.ones((n, DIM), dtype=np.float32))
    return [str(directory / "id.npy"), str(directory / "vec.npy")]


@pytest.mark.parametrize("kind", ["json", "numpy"])
def test_a_full_check_hashes_the_files_to_stage_as_it_reads_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    FakeBucket(monkeypatch)
    group = [rows_json(tmp_path / "rows.json", n=2000)] if kind == "json" else numpy_group(tmp_path, 300_000)
    hashed: list[int] = []
    original = _storage._digest

    def digest(path: str, cancel: threading.Event, started: Any = None, stat: Any = None) -> str:
        state = started.digest_state(stat.st_size, stat.st_mtime_ns) if started is not None else None
        hashed.append(state[1] if state is not None else 0)
        return original(path, cancel, started, stat)

    monkeypatch.setattr(_storage, "_digest", digest)
    response = run_import(MockTransport(answers()), [group], validate="full")
    # The full check read (and hashed) the file with values to check whole: nothing is left to read for its digest
    # (an int64 id.npy has no value a rule reads: the check reads its header, the digest goes on from there).
    assert max(hashed) == os.path.getsize(group[-1])
    assert response.files == (tuple(f"staged/{sha(p)}/{Path(p).name}" for p in group),)


def test_a_file_changed_after_its_check_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(b"x" * 1000)
    source = HashingLocalFile(str(path))
    assert source.read(0, 1000) == b"x" * 1000
    path.write_bytes(b"y" * 1000)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    info = os.stat(path)
    assert source.digest_state(info.st_size, info.st_mtime_ns) is None
    assert _storage._digest(str(path), threading.Event(), source, info) == sha(str(path))


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=200_000),
    reads=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 150_000), st.booleans()), max_size=12),
)
def test_the_digest_is_right_whatever_the_check_read(tmp_path_factory: Any, data: bytes, reads: Any) -> None:
    path = tmp_path_factory.mktemp("hash") / "file.bin"
    path.write_bytes(data)
    source = HashingLocalFile(str(path))
    for where, length, into in reads:  # read() or readinto() (the full NumPy check streams into one buffer)
        offset = int(where * len(data))
        if into:
            buffer = memoryview(bytearray(length))
            got = bytes(buffer[: source.readinto(offset, buffer)])
        else:
            got = source.read(offset, length)
        assert got == data[offset : offset + length]
    info = os.stat(path)
    assert _storage._digest(str(path), threading.Event(), source, info) == hashlib.sha256(data).hexdigest()


# -- cancellable work on the transports --------------------------------------------------------------------------


def _waits_for_cancel(started: threading.Event, ended: list[str]) -> Any:
    def work(cancel: threading.Event) -> None:
        started.set()
        assert cancel.wait(10), "never cancelled"
        time.sleep(0.05)  # winding down (aborting uploads) takes a moment
        ended.append("wound down")

    return work


def test_cancelling_the_task_waits_for_the_work_to_wind_down() -> None:
    started, ended = threading.Event(), []

    async def main() -> None:
        task = asyncio.ensure_future(run_cancellable(Work(_waits_for_cancel(started, ended), cancellable=True)))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ended == ["wound down"]  # not left running behind the cancellation

    asyncio.run(main())


def test_closing_a_client_from_another_thread_aborts_its_cancellable_work() -> None:
    started, ended = threading.Event(), []
    transport = SyncTransport(None, MockTransport().session, owned=False)  # type: ignore[arg-type]

    def flow() -> Any:
        yield Work(_waits_for_cancel(started, ended), cancellable=True)

    closer = threading.Thread(target=lambda: (started.wait(10), transport.close()))
    closer.start()
    transport.run(flow())
    closer.join()
    assert ended == ["wound down"]


def test_closing_an_async_client_aborts_its_cancellable_work_without_stopping_the_loop() -> None:
    # The aborted work ends with a StagingInterruptedError, a KeyboardInterrupt: raised in a task it would stop the
    # event loop. The task gets a ClientClosedError instead, and the loop goes on.
    started, ended = threading.Event(), []
    transport = AsyncTransport(MockTransport().session, connect=lambda: None)  # type: ignore[arg-type,return-value]
    waits = _waits_for_cancel(started, ended)

    def work(cancel: threading.Event) -> None:
        waits(cancel)
        raise pi.StagingInterruptedError("aborted", bucket="b", staged_keys=["k/1/a.json"])

    def flow() -> Any:
        yield Work(work, cancellable=True)

    async def main() -> BaseException:
        task = asyncio.ensure_future(transport.run(flow()))
        await asyncio.to_thread(started.wait, 10)
        await transport.close()
        with pytest.raises(pi.ClientClosedError) as raised:
            await task
        await asyncio.sleep(0)  # the loop is still running
        return raised.value

    error = asyncio.run(main())
    assert ended == ["wound down"] and "k/1/a.json" in str(error)
