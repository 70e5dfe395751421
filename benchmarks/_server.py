"""An instant-answer gRPC server for benchmarks, run in its own process: ``python -m benchmarks._server``.

Every method of ``milvus.proto.milvus.MilvusService`` answers at once with a fixed, pre-serialized OK reply (bytes
in, bytes out: no request parsing). ``Import`` returns one job id; ``GetImportState`` says Completed;
``GetVersion`` a version string; ``DescribeCollection`` the schema of the benchmarks' collection (``bench``: an
``id`` INT64 primary key and an 8-dim ``vec`` float vector, what ``bulk_import``'s preflight reads) whatever name
is asked; ``HasPartition`` true; ``Connect`` (which pymilvus calls on ``connections.connect``) a pymilvus
``ConnectResponse``. Any other method gets a reply holding only an OK ``status`` (field 1 in every Milvus reply),
and is counted, so a benchmark can tell which RPCs a client made (``/bench.Control/Stats``).

It prints ``PORT <n>`` once listening and stops when its stdin closes (the parent exited or is done) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "milvus.proto.milvus.MilvusService"
STATS = "/bench.Control/Stats"
RESET = "/bench.Control/Reset"
JOB_ID = 450_000_000_000_000_001
VERSION = "v2.5.0-bench"
COLLECTION = "bench"
COLLECTION_ID = 450_000_000_000_000_100
#: ``status`` (field 1, length 0): an OK ``common.Status``; valid as the whole reply of any Milvus RPC.
OK_ONLY = b"\n\x00"


def replies() -> dict[str, bytes]:
    """Method name -> serialized reply, from our generated messages and, for Connect, pymilvus's own."""
    from pymilvus_import._generated import common_pb2, milvus_pb2, schema_pb2

    ok = common_pb2.Status()
    schema = schema_pb2.CollectionSchema(
        name=COLLECTION,
        fields=[
            schema_pb2.FieldSchema(fieldID=100, name="id", is_primary_key=True, data_type=schema_pb2.Int64),
            schema_pb2.FieldSchema(fieldID=101, name="vec", data_type=schema_pb2.FloatVector),
        ],
    )
    out = {
        "Import": milvus_pb2.ImportResponse(status=ok, tasks=[JOB_ID]).SerializeToString(),
        "GetImportState": milvus_pb2.GetImportStateResponse(
            status=ok, state=common_pb2.ImportCompleted, row_count=1000, id=JOB_ID
        ).SerializeToString(),
        "ListImportTasks": milvus_pb2.ListImportTasksResponse(status=ok).SerializeToString(),
        "GetVersion": milvus_pb2.GetVersionResponse(status=ok, version=VERSION).SerializeToString(),
        "DescribeCollection": milvus_pb2.DescribeCollectionResponse(
            status=ok, schema=schema, collectionID=COLLECTION_ID, collection_name=COLLECTION, db_name="default"
        ).SerializeToString(),
        "HasPartition": milvus_pb2.BoolResponse(status=ok, value=True).SerializeToString(),
    }
    try:
        from pymilvus.grpc_gen import common_pb2 as pm_common
        from pymilvus.grpc_gen import milvus_pb2 as pm_milvus
    except ImportError:  # pymilvus absent: its variants will not run, and Connect gets the bare OK reply
        return out
    out["Connect"] = pm_milvus.ConnectResponse(
        status=pm_common.Status(),
        server_info=pm_common.ServerInfo(build_tags=VERSION),
        identifier=1,
    ).SerializeToString()
    return out


class InstantHandler(grpc.GenericRpcHandler):
    """Fixed replies; one method handler per path, built on first use and cached."""

    def __init__(self, fixed: dict[str, bytes]) -> None:
        self._fixed = fixed
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self.counts: collections.Counter[str] = collections.Counter()

    def _stats(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return json.dumps(dict(self.counts)).encode()

    def _reset(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.counts.clear()
        return b""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        if method == STATS:
            handler = grpc.unary_unary_rpc_method_handler(self._stats)
        elif method == RESET:
            handler = grpc.unary_unary_rpc_method_handler(self._reset)
        elif method.startswith(f"/{SERVICE}/"):
            reply = self._fixed.get(method.rsplit("/", 1)[-1], OK_ONLY)
            counts = self.counts

            def answer(request: bytes, context: grpc.ServicerContext, _reply: bytes = reply) -> bytes:
                counts[method] += 1
                return _reply

            handler = grpc.unary_unary_rpc_method_handler(answer)
        else:
            return None
        self._handlers[method] = handler
        return handler


def serve_aio() -> None:
    import asyncio

    async def main() -> None:
        handler = InstantHandler(replies())
        server = grpc.aio.server(handlers=(handler,), options=(("grpc.so_reuseport", 0),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"PORT {port}", flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        loop.add_reader(sys.stdin.fileno(), lambda: done.set() if not os.read(sys.stdin.fileno(), 65536) else None)
        await done.wait()
        await server.stop(None)

    asyncio.run(main())


def serve(workers: int) -> None:
    if workers == 0:
        serve_aio()
        return
    handler = InstantHandler(replies())
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers),
        handlers=(handler,),
        options=(("grpc.so_reuseport", 0),),
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin() -> None:
        with contextlib.suppress(Exception):
            sys.stdin.buffer.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    server.stop(grace=None).wait(5)


@contextlib.contextmanager
def instant_server(workers: int = 8) -> Iterator[str]:
    """Start the server in a child process; yields its ``127.0.0.1:port`` address; stops it on exit."""
    env = dict(os.environ)
    env.pop("MILVUS_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server", "--workers", str(workers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"instant server did not start (said {line!r}, exit code {proc.poll()})")
        address = f"127.0.0.1:{int(line.split()[1])}"
        if not wait_ready(address):
            raise RuntimeError(f"instant server at {address} does not answer")
        yield address
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_ready(address: str, timeout: float = 10.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
    return True


def stats(address: str, *, reset: bool = False) -> dict[str, int]:
    """Calls per method path since the last reset."""
    with grpc.insecure_channel(address) as channel:
        counts: dict[str, int] = json.loads(channel.unary_unary(STATS)(b"", timeout=5))
        if reset:
            channel.unary_unary(RESET)(b"", timeout=5)
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=8)
    serve(parser.parse_args().workers)
