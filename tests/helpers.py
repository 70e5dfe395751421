"""Test helpers: the one driver for the pure flows (``MockTransport``), and for the real embedded Milvus: collection
setup, import files, server-side row counts, raw polling.

pymilvus is a test-only dependency and is used only here and in tests, never by the library.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from pymilvus_import._effects import Notify, Rpc, Sleep, Work
from pymilvus_import._generated import common_pb2, milvus_pb2
from pymilvus_import._session import Session
from pymilvus_import._transport import SyncTransport
from tools import milvus_pb2_grpc

if TYPE_CHECKING:
    from pymilvus_import import BulkImportOption


class FakeClock:
    """A monotonic clock that moves only when told: flows read it, the test's Sleep handler advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


#: GetImportState states after which nothing changes any more.
FINAL_STATES = frozenset({"ImportCompleted", "ImportFailed", "ImportFailedAndCleaned"})


@contextmanager
def milvus_client(uri: str, db_name: str | None = None) -> Iterator[object]:
    """A pymilvus MilvusClient that is closed afterwards (open connections at server stop cause port TIME_WAIT)."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, db_name=db_name or "")
    try:
        yield client
    finally:
        client.close()


def create_collection(
    uri: str,
    name: str,
    *,
    dim: int = 8,
    partitions: tuple[str, ...] | list[str] = (),
    db_name: str | None = None,
) -> str:
    """Create ``name`` with schema {id: INT64 primary key (no auto_id), vec: FLOAT_VECTOR(dim)} and a FLAT/L2 index.

    The collection is not loaded: an Import does not need it, and on 2.3.5 a load costs ~2.5 s per collection
    (given the index, pymilvus's ``create_collection`` would load it). Imports into a loaded collection are covered
    by the demo (tools/demo.py, run by tests/test_demo.py) and tests/test_bulk_import_auth_milvus.py. A database
    other than "default" is created first when missing. Returns the collection name.
    """
    from pymilvus import DataType

    if db_name and db_name != "default":
        with milvus_client(uri) as client:
            if db_name not in client.list_databases():
                client.create_database(db_name)
    with milvus_client(uri, db_name) as client:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        client.create_collection(name, schema=schema)
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_index(name, index_params)
        for partition in partitions:
            client.create_partition(name, partition)
    return name


def drop_collection(uri: str, name: str, *, db_name: str | None = None) -> None:
    with milvus_client(uri, db_name) as client:
        client.drop_collection(name)


def _vectors(n: int, dim: int, start_id: int) -> np.ndarray:
    ids = np.arange(start_id, start_id + n, dtype=np.float32)[:, None]
    return (np.sin(ids + np.arange(dim, dtype=np.float32)[None, :])).astype(np.float32)


def write_json_rows(path: Path | str, n: int, dim: int = 8, start_id: int = 0) -> str:
    """Write the row-based JSON format ``{"rows": [{"id": .., "vec": [..]}, ...]}``; returns the absolute path."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    vecs = _vectors(n, dim, start_id)
    rows = [{"id": start_id + i, "vec": [float(x) for x in vecs[i]]} for i in range(n)]
    path.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return str(path)


def write_npy_group(directory: Path | str, n: int, dim: int = 8, start_id: int = 0) -> list[str]:
    """Write ``id.npy`` (int64, n) and ``vec.npy`` (float32, n x dim); returns their absolute paths."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    id_path, vec_path = directory / "id.npy", directory / "vec.npy"
    np.save(id_path, np.arange(start_id, start_id + n, dtype=np.int64))
    np.save(vec_path, _vectors(n, dim, start_id))
    return [str(id_path), str(vec_path)]


def count_rows(uri: str, collection: str, *, db_name: str | None = None, partition: str | None = None) -> int:
    """The row count the server reports for a collection (or one partition), after a flush.

    Uses get_collection_stats / get_partition_stats (data coord's segment row counts). On the embedded 2.3.5 these
    are exact as soon as an import reports ImportCompleted. A ``count(*)`` query after load is NOT reliable there:
    it answered 0 for several seconds after ImportCompleted (imported segments reach the query node only after
    their index is built and handed off), even with Strong consistency.
    """
    with milvus_client(uri, db_name) as client:
        client.flush(collection)
        if partition is None:
            stats = client.get_collection_stats(collection)
        else:
            stats = client.get_partition_stats(collection, partition)
    return int(stats["row_count"])


def state_name(state: int) -> str:
    return common_pb2.ImportState.Name(state)


def wait_import_raw(address: str, task_id: int, timeout: float = 120) -> tuple[str, int, dict[str, str]]:
    """Poll GetImportState with the generated stub until the task completes or fails.

    Returns (state name, row_count, infos as dict). Raises TimeoutError with the last reply when ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        while True:
            reply = stub.GetImportState(milvus_pb2.GetImportStateRequest(task=task_id), timeout=10)
            if reply.status.code != 0 or reply.status.error_code != 0:
                raise AssertionError(f"GetImportState({task_id}) failed: {reply.status}")
            name = state_name(reply.state)
            infos = {kv.key: kv.value for kv in reply.infos}
            if name in FINAL_STATES:
                return name, reply.row_count, infos
            if time.monotonic() >= deadline:
                raise TimeoutError(f"import task {task_id} still {name} after {timeout} s: {infos}")
            time.sleep(0.25)


def error_chain(error: BaseException) -> list[BaseException]:
    """The error and every exception behind it (``__cause__``, else ``__context__``), without cycles."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class FakeRpcError(grpc.RpcError):
    """What a gRPC call raises: an RpcError with ``code()`` and ``details()`` (answer it to a MockTransport)."""

    def __init__(self, code: grpc.StatusCode, details: str = "injected") -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


#: Where the MockTransport's sessions point (what error messages name).
FLOW_TARGET = "http://milvus.test:19530"


def _short(method: str) -> str:
    return method.rsplit("/", 1)[-1]


class MockTransport(SyncTransport):
    """The one driver for the pure flows, like httpx's ``MockTransport``: hand it answers, run a flow, read what was
    sent. It is the real sync transport (the same loop, the same mapping of a ``grpc.RpcError`` answer to the
    package's TransportError) with the channel and the clock replaced:

    - ``answers``: per method (short name ``"Import"`` or the full path), a list of answers in order: reply bytes,
      an exception to raise from the call (a ``FakeRpcError`` as gRPC would), or a function of the ``Rpc`` that
      returns one of those. The last answer of a method repeats.
    - ``run(flow)`` drives the flow to its result; ``effects`` is every effect it yielded, ``sent`` every RPC,
      ``rpcs(method)`` the RPCs of one method, ``requests()`` the Import requests decoded, ``sleeps`` the Sleeps.
    - ``Sleep`` advances ``clock`` (a FakeClock) instead of sleeping; ``Notify`` calls the callback.
    - ``make_session(...)`` is a Session on that clock (``retry=``, ``server_version=`` preset).
    """

    def __init__(self, answers: dict[str, list[Any]] | None = None, *, clock: FakeClock | None = None) -> None:
        self.answers = {_short(method): list(queue) for method, queue in (answers or {}).items()}
        self.clock = clock or FakeClock()
        self.effects: list[Any] = []
        super().__init__(None, Session(FLOW_TARGET, clock=self.clock), owned=False)  # type: ignore[arg-type]

    def make_session(self, **kwargs: Any) -> Session:
        version = kwargs.pop("server_version", None)
        session = Session(FLOW_TARGET, clock=self.clock, **kwargs)
        session.server_version = version
        return session

    def _perform(self, effect: Any) -> Any:
        self.effects.append(effect)
        if isinstance(effect, Sleep):
            self.clock.advance(effect.seconds)
            return None
        if isinstance(effect, Notify):
            effect.callback(effect.progress)
            return None
        if isinstance(effect, Work):  # blocking work (reading files): run in place, as the sync transport does
            return effect.perform()
        queue = self.answers[_short(effect.method)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer(effect)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    @property
    def sent(self) -> list[Rpc]:
        """Every RPC sent, in order."""
        return [e for e in self.effects if isinstance(e, Rpc)]

    def rpcs(self, method: str = "Import") -> list[Rpc]:
        return [e for e in self.effects if isinstance(e, Rpc) and _short(e.method) == _short(method)]

    def requests(self) -> list[milvus_pb2.ImportRequest]:
        return [milvus_pb2.ImportRequest.FromString(rpc.request) for rpc in self.rpcs("Import")]

    @property
    def sleeps(self) -> list[float]:
        return [e.seconds for e in self.effects if isinstance(e, Sleep)]


class CliResult:
    """What ``milvus-import`` did in-process: its exit code and what it printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(capsys: Any, *argv: str) -> CliResult:
    """Run ``milvus-import ARGV`` in this process (``capsys``: pytest's fixture) and capture its output."""
    from pymilvus_import._cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def exception_texts(error: BaseException) -> list[str]:
    """Every text a user could see of ``error`` and its chain: str, repr, args, attributes, the traceback."""
    import traceback

    texts: list[str] = []
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(v) for v in vars(current).values()]
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return texts


def option(files: Any = (("/data/rows.json",),), *, collection: str = "coll", uri: str = "") -> BulkImportOption:
    """The option most tests send: ``new_bulk_import_option(uri, collection, files)``, by default one JSON file
    into ``coll`` at the client's own URI."""
    from pymilvus_import import new_bulk_import_option

    return new_bulk_import_option(uri, collection, files)


def unused_port() -> int:
    """A local TCP port nothing listens on (bound once, then released), never Milvus's own 19530."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert port != 19530
    return port


@contextmanager
def timed(limit: float) -> Iterator[None]:
    """The block ends within ``limit`` seconds."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f}s, limit {limit:.2f}s"


def reports_unreachable(error: BaseException) -> bool:
    """The user can tell from the error that the server could not be reached (not only that time ran out)."""
    from pymilvus_import import ServerUnavailableError

    if isinstance(error, ServerUnavailableError):
        return True
    text = " | ".join(str(e) for e in error_chain(error)).lower()
    return "unreachable" in text or "unavailable" in text


def open_connections(address: str, *, settle: float = 0.0) -> int:
    """How many established TCP connections this machine has to ``address`` ("127.0.0.1:PORT"): what a user (or
    ``ss``) sees of a client's channels. With ``settle``, waits up to that many seconds for the count to reach 0
    (a closed channel's socket is torn down in the background)."""
    port = f"{int(address.rsplit(':', 1)[1]):04X}"
    deadline = time.monotonic() + settle
    while True:
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
                next(lines)
                for line in lines:
                    _, _, remote, state, *_ = line.split()
                    count += remote.endswith(f":{port}") and state == "01"  # 01: ESTABLISHED
        if count == 0 or time.monotonic() >= deadline:
            return count
        time.sleep(0.02)
