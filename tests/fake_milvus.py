"""``Milvus24TestServer``: an in-process gRPC TEST server that answers bulk-import RPCs the way Milvus 2.4+ does.

This is not Milvus and never claims to be: it is a scripted stand-in for unit tests of the client. It follows the
documented 2.4+ behaviour (see /work/shared/reference/milvus-import-facts.md, sections 1, 3 and 4):

* ``Import``: one job per request, ``tasks == [job_id]``; synchronous errors come back as ``ImportResponse.status``
  with gRPC OK (database 800, collection 100, partition 200, empty request 1100, partition name on a partition-key
  collection 2100, bad/mixed extensions or more than one json/parquet/csv file 2100, ``backup=true`` without a
  partition 1100, >= ``max_active_jobs`` unfinished jobs 2100 retriable). A missing file is not a request error: the
  job is created and fails later (here: any file whose name contains ``"fail"``). ``idempotency_key`` is honoured only
  when the configured version is >= 2.6.24 (2.x line) or >= 3.0.2; older versions ignore it. An empty ``db_name``
  falls back to the ``dbname`` metadata header, then to ``"default"``.
* ``GetImportState``: only Pending/Started/Completed/Failed; ``infos`` = ``failed_reason`` and ``progress_percent``;
  ``id``/``collection_id`` 0 and no segment ids. Each poll walks the job one step along its script. An expired or
  unknown job answers code 2100 "import job does not exist, jobID=N".
* ``ListImportTasks``: every job (optionally one collection), ``limit`` ignored, ``id`` 0 everywhere; it reports
  each job's last polled step and does not advance it.
* ``GetVersion``: the configured version string.
* Any method named in ``unimplemented`` answers gRPC UNIMPLEMENTED (a server or proxy without it).
* ``DescribeCollection`` / ``ShowPartitions`` / ``HasPartition`` (for the preflight): the schema a test registered
  with ``add_collection(..., fields=[field(...)], enable_dynamic_field=...)`` (default: ``id`` Int64 primary key and
  ``vec`` FloatVector, plus ``tenant`` VarChar partition key when ``partition_key=True``); unknown database 800,
  unknown collection 100, a collection name Milvus never accepts 1100 "Invalid collection name" (milvus-name-rules.md:
  DescribeCollection and HasPartition validate it on every line). ``deny_preflight = True`` makes the three answer
  PERMISSION_DENIED (a user without the DescribeCollection privilege); ``inject`` works for them as for the others.

What it does not do: read files, store rows, check schemas or npy field names, time-based progress, retention by
age (call ``expire_job``), TLS, the 2.3 task model. Every request is recorded (``requests``) before auth and faults;
faults injected per method (``inject``) are consumed in order.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import grpc

from pymilvus_import._generated import common_pb2, milvus_pb2, schema_pb2

SERVICE = "milvus.proto.milvus.MilvusService"
JOB_ID_BASE = 450_000_000_000_000_001
METHODS = {
    "Import": milvus_pb2.ImportRequest,
    "GetImportState": milvus_pb2.GetImportStateRequest,
    "ListImportTasks": milvus_pb2.ListImportTasksRequest,
    "GetVersion": milvus_pb2.GetVersionRequest,
    "DescribeCollection": milvus_pb2.DescribeCollectionRequest,
    "ShowPartitions": milvus_pb2.ShowPartitionsRequest,
    "HasPartition": milvus_pb2.HasPartitionRequest,
}
RESPONSES = {
    "Import": milvus_pb2.ImportResponse,
    "GetImportState": milvus_pb2.GetImportStateResponse,
    "ListImportTasks": milvus_pb2.ListImportTasksResponse,
    "GetVersion": milvus_pb2.GetVersionResponse,
    "DescribeCollection": milvus_pb2.DescribeCollectionResponse,
    "ShowPartitions": milvus_pb2.ShowPartitionsResponse,
    "HasPartition": milvus_pb2.BoolResponse,
}
PREFLIGHT_METHODS = ("DescribeCollection", "ShowPartitions", "HasPartition")
# Step state name (the REST names) -> the ImportState a 2.4+ server reports.
STATES = {
    "Pending": common_pb2.ImportPending,
    "Importing": common_pb2.ImportStarted,
    "Completed": common_pb2.ImportCompleted,
    "Failed": common_pb2.ImportFailed,
}
MISSING_FILE_REASON = "The specified key does not exist"


def field(
    name: str,
    data_type: str = "Int64",
    *,
    primary: bool = False,
    auto_id: bool = False,
    partition_key: bool = False,
    nullable: bool = False,
    dynamic: bool = False,
) -> Any:
    """One field of a registered collection's schema (``data_type`` is a DataType name: "Int64", "FloatVector")."""
    return schema_pb2.FieldSchema(
        name=name,
        data_type=schema_pb2.DataType.Value(data_type),
        is_primary_key=primary,
        autoID=auto_id,
        is_partition_key=partition_key,
        nullable=nullable,
        is_dynamic=dynamic,
    )


# --------------------------------------------------------------------------------------------- progress scripts
@dataclass(frozen=True)
class Step:
    """One answer of a job's script. ``rows=None`` means ``total_rows * progress // 100`` (0 when failed)."""

    state: str  # "Pending" | "Importing" | "Completed" | "Failed"
    progress: int
    rows: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown step state {self.state!r}; use one of {sorted(STATES)}")


def default_script() -> list[Step]:
    return [Step("Pending", 0), Step("Importing", 40), Step("Importing", 80), Step("Completed", 100)]


def stuck_at_80(polls: int) -> list[Step]:
    """Pending, Started 40 %, then Started 80 % for ``polls`` polls (index building), then Completed."""
    return [Step("Pending", 0), Step("Importing", 40), *[Step("Importing", 80)] * polls, Step("Completed", 100)]


def failed_script(reason: str = MISSING_FILE_REASON) -> list[Step]:
    return [Step("Pending", 0), Step("Failed", 0, reason=reason)]


@dataclass
class Job:
    job_id: int
    db_name: str
    collection_name: str
    partition_name: str
    files: list[str]
    options: dict[str, str]
    script: list[Step]
    total_rows: int
    create_ts: int
    idempotency_key: str = ""
    polls: int = 0  # GetImportState answers given so far

    def step(self, *, advance: bool) -> Step:
        """The step to report; a poll (advance=True) reports the next one, a listing the last one reported."""
        last = len(self.script) - 1
        index = min(self.polls, last) if advance else min(max(self.polls - 1, 0), last)
        if advance:
            self.polls += 1
        return self.script[index]

    @property
    def finished(self) -> bool:
        return self.step(advance=False).state in ("Completed", "Failed")


# --------------------------------------------------------------------------------------------- faults and records
@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour for one call. Build with the class methods."""

    kind: str
    grpc_code: grpc.StatusCode | None = None
    details: str = ""
    after_receive: bool = True
    seconds: float = 0.0
    status_code: int = 0
    retriable: bool = False
    payload: Any = None  # bytes for raw, a message for reply

    @classmethod
    def abort(cls, code: grpc.StatusCode, details: str = "injected fault", *, after_receive: bool = True) -> Fault:
        """Fail the RPC with ``code``. after_receive=True: the request is processed first (the ambiguous case)."""
        return cls("abort", grpc_code=code, details=details, after_receive=after_receive)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep, then answer normally. If the client cancels or its deadline passes meanwhile, nothing is done."""
        return cls("delay", seconds=seconds)

    @classmethod
    def status(cls, code: int, reason: str, retriable: bool = False) -> Fault:
        """Answer gRPC OK with this ``status`` and nothing else (no tasks); the request is not processed."""
        return cls("status", status_code=code, details=reason, retriable=retriable)

    @classmethod
    def raw(cls, data: bytes) -> Fault:
        """Answer with these bytes as the serialized response (malformed replies)."""
        return cls("raw", payload=bytes(data))

    @classmethod
    def reply(cls, message: Any) -> Fault:
        """Answer exactly this message (any type); the request is not processed."""
        return cls("reply", payload=message)


@dataclass(frozen=True)
class RecordedCall:
    method: str
    request: Any
    metadata: dict[str, Any]
    time_remaining: float | None
    peer: str
    #: Every metadata entry as received, repeats included (``metadata`` keeps one value per key).
    headers: tuple[tuple[str, Any], ...] = ()


def parse_version(version: str) -> tuple[int, int, int]:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)


def _status(code: int, reason: str, *, input_error: bool = False, retriable: bool = False) -> common_pb2.Status:
    if code == 0:
        return common_pb2.Status()
    extra = {"is_input_error": "true"} if input_error else {}
    return common_pb2.Status(
        code=code, error_code=1, reason=reason, detail=reason, retriable=retriable, extra_info=extra
    )


def _serialize(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


class _SyncError(Exception):
    def __init__(self, status: common_pb2.Status) -> None:
        super().__init__(status.reason)
        self.status = status


def _input_error(code: int, reason: str) -> _SyncError:
    return _SyncError(_status(code, reason, input_error=True))


_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_collection_name(name: str) -> None:
    """Milvus's collection-name rule (validateCollectionName, default proxy.maxNameLength 255): 1100 otherwise."""
    prefix = f"Invalid collection name: {name}. "
    if len(name) > 255:
        raise _input_error(1100, prefix + " the length of a collection name must be less than 255 characters")
    if not _COLLECTION_NAME.fullmatch(name):
        raise _input_error(1100, prefix + " collection name can only contain numbers, letters and underscores")


# --------------------------------------------------------------------------------------------- the server
class Milvus24TestServer:
    """A TEST gRPC server with Milvus 2.4+ import semantics. Use ``with Milvus24TestServer() as server: ...``."""

    def __init__(
        self,
        version: str = "v2.4.10",
        workers: int = 32,
        *,
        rows_per_job: int = 1000,
        require_token: str | None = None,
        max_active_jobs: int = 1024,
        unimplemented: Sequence[str] = (),
        local_credentials: bool = False,
    ) -> None:
        self.version = version
        #: Serve with ``grpc.local_server_credentials`` (a "secure" local TCP port, so call credentials such as
        #: ``grpc.access_token_call_credentials`` are sent); clients dial it with ``local_channel()``.
        self.local_credentials = local_credentials
        self.workers = workers
        self.rows_per_job = rows_per_job
        self.require_token = require_token
        self.max_active_jobs = max_active_jobs
        #: Methods answered UNIMPLEMENTED (after recording and auth), like a server or proxy that lacks them.
        self.unimplemented = frozenset(unimplemented)
        self.next_job_script: list[Step] | None = None  # used (and cleared) by the next created job
        self.file_rules: list[tuple[str, list[Step]]] = [("fail", failed_script())]  # substring -> script
        self.requests: list[RecordedCall] = []
        self.jobs: dict[int, Job] = {}
        self.address = ""
        self.uri = ""
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._ids = itertools.count(JOB_ID_BASE)
        self._created = 0
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._databases: set[str] = {"default"}
        self._collections: dict[tuple[str, str], dict[str, Any]] = {}
        self.deny_preflight = False  # DescribeCollection/ShowPartitions/HasPartition answer PERMISSION_DENIED
        self._idempotency: dict[tuple[str, str, str], int] = {}
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None

    # ----- lifecycle
    def start(self) -> Milvus24TestServer:
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="milvus24-test-server")
        self._server = grpc.server(self._executor)
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._handler(name), request_deserializer=request.FromString, response_serializer=_serialize
            )
            for name, request in METHODS.items()
        }
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        if self.local_credentials:
            local = grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
            port = self._server.add_secure_port("127.0.0.1:0", local)
        else:
            port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        self.uri = f"http://{self.address}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def local_channel(self) -> grpc.Channel:
        """A sync channel to a ``local_credentials=True`` server."""
        return grpc.secure_channel(self.address, grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP))

    def __enter__(self) -> Milvus24TestServer:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- configuration and inspection
    def add_database(self, name: str) -> None:
        with self._lock:
            self._databases.add(name)

    def add_collection(
        self,
        name: str,
        *,
        db_name: str = "default",
        partitions: Sequence[str] = ("_default",),
        partition_key: bool = False,
        script: Sequence[Step] | None = None,
        fields: Sequence[Any] | None = None,
        enable_dynamic_field: bool = False,
    ) -> None:
        """Register a collection; ``script`` (optional) is the progress script of every job imported into it,
        ``fields`` (built with :func:`field`) its schema as DescribeCollection reports it."""
        if fields is None:
            fields = [field("id", primary=True), field("vec", "FloatVector")]
            if partition_key:
                fields.insert(1, field("tenant", "VarChar", partition_key=True))
        schema = schema_pb2.CollectionSchema(name=name, fields=fields, enable_dynamic_field=enable_dynamic_field)
        with self._lock:
            self._databases.add(db_name)
            self._collections[(db_name, name)] = {
                "partitions": set(partitions),
                "partition_key": partition_key or any(f.is_partition_key for f in fields),
                "script": list(script) if script else None,
                "schema": schema,
            }

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for ``method`` ("Import", "GetImportState", ...); each call consumes the next one."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; use one of {sorted(METHODS)}")
        with self._lock:
            self._faults[method].extend(faults)

    def pending_faults(self, method: str) -> int:
        with self._lock:
            return len(self._faults[method])

    def requests_for(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.requests if call.method == method]

    def import_count(self) -> int:
        """Jobs created so far (expired ones included)."""
        with self._lock:
            return self._created

    def expire_job(self, job_id: int) -> None:
        """Make the job vanish, as retention does 3 h after it finished."""
        with self._lock:
            self.jobs.pop(job_id, None)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no handler is running (e.g. a delayed call that its client gave up on)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    @property
    def supports_idempotency(self) -> bool:
        v = parse_version(self.version)
        return (2, 6, 24) <= v < (3, 0, 0) or v >= (3, 0, 2)

    # ----- request handling
    def _handler(self, method: str) -> Any:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self._in_flight += 1
            try:
                return self._handle(method, request, context)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

        return handle

    def _handle(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = {key.lower(): value for key, value in context.invocation_metadata()}
        remaining = context.time_remaining()
        with self._lock:
            headers = tuple((key.lower(), value) for key, value in context.invocation_metadata())
            deadline = None if remaining > 1e7 else remaining
            call = RecordedCall(method, request, metadata, deadline, context.peer(), headers)
            self.requests.append(call)
            fault = self._faults[method].popleft() if self._faults[method] else None
        self._check_auth(metadata, context)
        if method in self.unimplemented:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {SERVICE}/{method}")
        if self.deny_preflight and method in PREFLIGHT_METHODS:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"PrivilegeDescribeCollection: permission deny to {method}"
            )
        if fault is None:
            return self._dispatch(method, request, metadata)
        if fault.kind == "abort":
            if fault.after_receive:
                self._dispatch(method, request, metadata)
            context.abort(fault.grpc_code, fault.details)
        if fault.kind == "delay":
            gone = threading.Event()
            context.add_callback(gone.set)
            if gone.wait(fault.seconds) or not context.is_active():
                return RESPONSES[method]()  # the client left: nothing processed, the answer goes nowhere
            return self._dispatch(method, request, metadata)
        if fault.kind == "status":
            return RESPONSES[method](status=_status(fault.status_code, fault.details, retriable=fault.retriable))
        return fault.payload  # raw bytes or a reply message

    def _check_auth(self, metadata: dict[str, Any], context: grpc.ServicerContext) -> None:
        if self.require_token is None:
            return
        given = metadata.get("authorization")
        if not given:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing authorization in header")
        if given != base64.b64encode(self.require_token.encode()).decode():
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "auth check failure, please check api key is correct")

    def _dispatch(self, method: str, request: Any, metadata: dict[str, Any]) -> Any:
        with self._lock:
            if method == "Import":
                return self._import(request, metadata)
            if method == "GetImportState":
                return self._get_import_state(request.task)
            if method == "ListImportTasks":
                return self._list_import_tasks(request, metadata)
            if method in PREFLIGHT_METHODS:
                return self._preflight(method, request, metadata)
            return milvus_pb2.GetVersionResponse(status=_status(0, ""), version=self.version)

    def _db(self, request: Any, metadata: dict[str, Any]) -> str:
        return request.db_name or str(metadata.get("dbname") or "") or "default"

    def _collection(self, db: str, name: str) -> dict[str, Any]:
        if db not in self._databases:
            raise _input_error(800, f"database not found[database={db}]")
        if (db, name) not in self._collections:
            raise _input_error(100, f"collection not found[database={db}][collection={name}]")
        return self._collections[(db, name)]

    def _import(self, request: milvus_pb2.ImportRequest, metadata: dict[str, Any]) -> milvus_pb2.ImportResponse:
        db = self._db(request, metadata)
        try:
            job_id = self._create_job(request, db)
        except _SyncError as error:
            return milvus_pb2.ImportResponse(status=error.status)
        return milvus_pb2.ImportResponse(status=_status(0, ""), tasks=[job_id])

    def _create_job(self, request: milvus_pb2.ImportRequest, db: str) -> int:
        collection = self._collection(db, request.collection_name)
        options = {kv.key: kv.value for kv in request.options}
        backup = options.get("backup", "").lower() == "true"
        key = request.idempotency_key if self.supports_idempotency else ""
        if key and (len(key) > 256 or not all(32 <= ord(c) < 127 for c in key)):
            raise _input_error(1100, "invalid idempotency key: printable ASCII, at most 256 bytes")
        if backup and not request.partition_name:
            raise _input_error(1100, "partition not specified")
        if request.partition_name:
            if collection["partition_key"]:
                raise _input_error(2100, "not allow to set partition name for collection with partition key")
            if request.partition_name not in collection["partitions"]:
                raise _input_error(200, f"partition not found[partition={request.partition_name}]")
        files = [f for f in request.files if f]
        if not files:
            raise _input_error(1100, "import request is empty")
        if backup and len(files) > 2:
            raise _input_error(2100, "backup import accepts 1 or 2 path prefixes")
        if not backup:
            self._check_file_types(files)
        if key and (db, request.collection_name, key) in self._idempotency:
            return self._idempotency[(db, request.collection_name, key)]  # a retry: the first job, nothing new
        if sum(not job.finished for job in self.jobs.values()) >= self.max_active_jobs:
            raise _SyncError(
                _status(2100, "The number of jobs has reached the limit, please try again later", retriable=True)
            )
        job_id = next(self._ids)
        self._created += 1
        self.jobs[job_id] = Job(
            job_id=job_id,
            db_name=db,
            collection_name=request.collection_name,
            partition_name=request.partition_name,
            files=files,
            options=options,
            script=self._script_for(files, collection),
            total_rows=self.rows_per_job,
            create_ts=int(time.time()),
            idempotency_key=key,
        )
        if key:
            self._idempotency[(db, request.collection_name, key)] = job_id
        return job_id

    def _check_file_types(self, files: list[str]) -> None:
        allowed = {"json", "parquet", "npy"}
        if parse_version(self.version) >= (2, 5, 0):
            allowed.add("csv")
        if parse_version(self.version) >= (2, 6, 0):
            allowed |= {"jsonl", "ndjson"}
        exts = {PurePosixPath(f).suffix.lower().lstrip(".") for f in files}
        if not exts <= allowed:
            raise _input_error(2100, f"unexpected file type, files={files}")
        if len(exts) > 1:
            raise _input_error(2100, f"inconsistency in file types, files={files}")
        if exts != {"npy"} and len(files) > 1:
            raise _input_error(2100, f"for JSON, parquet or CSV files, each job only accepts one file, files={files}")

    def _script_for(self, files: Iterable[str], collection: dict[str, Any]) -> list[Step]:
        if self.next_job_script is not None:
            script, self.next_job_script = list(self.next_job_script), None
            return script
        for needle, rule_script in self.file_rules:
            if any(needle in PurePosixPath(f).name for f in files):
                return list(rule_script)
        return list(collection["script"] or default_script())

    def _state_response(self, job: Job, *, advance: bool) -> milvus_pb2.GetImportStateResponse:
        step = job.step(advance=advance)
        rows = (
            step.rows
            if step.rows is not None
            else (0 if step.state == "Failed" else job.total_rows * step.progress // 100)
        )
        return milvus_pb2.GetImportStateResponse(
            status=_status(0, ""),
            state=STATES[step.state],
            row_count=rows,
            infos=[
                common_pb2.KeyValuePair(key="failed_reason", value=step.reason),
                common_pb2.KeyValuePair(key="progress_percent", value=str(step.progress)),
            ],
            id=0,
            collection_id=0,
            create_ts=job.create_ts,
        )

    def _get_import_state(self, job_id: int) -> milvus_pb2.GetImportStateResponse:
        job = self.jobs.get(job_id)
        if job is None:
            status = _status(2100, f"import job does not exist, jobID={job_id}")
            return milvus_pb2.GetImportStateResponse(status=status)
        return self._state_response(job, advance=True)

    def _list_import_tasks(self, request: Any, metadata: dict[str, Any]) -> milvus_pb2.ListImportTasksResponse:
        db = self._db(request, metadata)
        try:
            if request.collection_name:
                self._collection(db, request.collection_name)
            elif db not in self._databases:
                raise _input_error(800, f"database not found[database={db}]")
        except _SyncError as error:
            return milvus_pb2.ListImportTasksResponse(status=error.status)
        jobs = [
            job
            for job in self.jobs.values()
            if job.db_name == db and (not request.collection_name or job.collection_name == request.collection_name)
        ]
        return milvus_pb2.ListImportTasksResponse(
            status=_status(0, ""), tasks=[self._state_response(job, advance=False) for job in jobs]
        )

    def _preflight(self, method: str, request: Any, metadata: dict[str, Any]) -> Any:
        db = self._db(request, metadata)
        try:
            _check_collection_name(request.collection_name)
            collection = self._collection(db, request.collection_name)
        except _SyncError as error:
            return RESPONSES[method](status=error.status)
        ok = _status(0, "")
        if method == "DescribeCollection":
            return milvus_pb2.DescribeCollectionResponse(
                status=ok, schema=collection["schema"], collection_name=request.collection_name, db_name=db
            )
        if method == "ShowPartitions":
            return milvus_pb2.ShowPartitionsResponse(status=ok, partition_names=sorted(collection["partitions"]))
        return milvus_pb2.BoolResponse(status=ok, value=request.partition_name in collection["partitions"])
