"""Start and stop the embedded Milvus 2.3.5 server (``milvus-server`` from the ``milvus`` wheel) for tests.

The server's ports are fixed (19530 gRPC, 9091 metrics, 2379 etcd), so only one instance can run on a machine.
Readiness is checked with a real ``GetVersion`` RPC through the generated stub, not with the health endpoint.

Two things about the launcher shape this module:

- ``milvus-server`` is a Python launcher that spawns ``<base>/bin/milvus run standalone``. It is started in a new
  session and stopped by signalling the whole process group, so the Go child never outlives it. A graceful stop
  (SIGTERM) takes ~24 s once the server has done any work (the proxy keeps retrying the already stopped root
  coordinator), so :meth:`MilvusServer.stop` waits only a short grace before SIGKILL; every test server uses a
  fresh data dir, so nothing is lost.
- Before launching, the launcher probes each port with a plain ``bind()`` (no ``SO_REUSEADDR``) and silently moves
  a service to the next free port if that fails. After a server with open client connections stops, 19530 sits in
  TIME_WAIT for ~60 s: nothing listens, the Go server itself could bind it (Go sets ``SO_REUSEADDR``), yet the
  launcher's probe fails and the proxy would move to 19531. So the launcher's own entry point
  (``milvus.main``, the same one ``milvus-server`` calls) is run with that probe using ``SO_REUSEADDR``, which
  still fails when something really listens. The port written to ``configs/milvus.yaml`` is checked as well.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import grpc

from pymilvus_import._generated import milvus_pb2, milvus_pb2_grpc

HOST = "127.0.0.1"
PORT = 19530

ReadyCheck = Callable[[str], bool]

# Runs the milvus-server entry point with the launcher's port probe using SO_REUSEADDR (see the module docstring).
_LAUNCHER = """
import socket, sys
import milvus


def _try_bind_port(self, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


milvus.MilvusServerConfig.try_bind_port = _try_bind_port
sys.argv[0] = "milvus-server"
sys.exit(milvus.main())
"""


def _listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _bindable(host: str, port: int) -> bool:
    """True when bind() with SO_REUSEADDR succeeds (the launcher's probe as patched by ``_LAUNCHER``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        return True
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return False
    finally:
        sock.close()


def grpc_version_ready(
    address: str,
    *,
    per_try_timeout: float = 2.0,
    metadata: tuple[tuple[str, str], ...] = (),
    credentials: grpc.ChannelCredentials | None = None,
    options: tuple[tuple[str, object], ...] = (),
) -> bool:
    """Readiness check: a GetVersion RPC answers with an OK status.

    The default (no arguments) is the plaintext check. For auth or TLS servers, bind the extras, e.g.
    ``functools.partial(grpc_version_ready, metadata=(("authorization", base64("root:Milvus")),))`` or
    ``credentials=grpc.ssl_channel_credentials(ca)``, and pass it as ``ready_check``.
    """
    if credentials is None:
        channel = grpc.insecure_channel(address, options=list(options))
    else:
        channel = grpc.secure_channel(address, credentials, options=list(options))
    try:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        reply = stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=per_try_timeout, metadata=metadata or None)
        return reply.status.code == 0 and reply.status.error_code == 0 and bool(reply.version)
    except grpc.RpcError:
        return False
    finally:
        channel.close()


def _configured_proxy_port(config_file: Path) -> int | None:
    """The proxy port the launcher wrote into configs/milvus.yaml (None while the file is not there yet)."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^proxy:\n(?:.*\n)*?  port: (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


class MilvusServer:
    """One embedded Milvus server process tree rooted in ``base_dir``."""

    def __init__(
        self,
        base_dir: Path,
        extra_args: tuple[str, ...] = (),
        *,
        ready_check: ReadyCheck | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.extra_args = tuple(extra_args)
        self.ready_check = ready_check
        self.host = HOST
        self.port = PORT
        self.address = f"{HOST}:{PORT}"
        self.uri = f"http://{HOST}:{PORT}"
        #: The only place import files may be put: the server's local storage root (paths sent must be absolute).
        self.data_dir = self.base_dir / "data"
        self.output_file = self.base_dir / "server-output.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 90.0, ready_check: ReadyCheck | None = None, port_wait: float = 20.0) -> None:
        """Launch the server and block until ``ready_check(address)`` is true (default: a GetVersion RPC)."""
        if self._proc is not None:
            raise RuntimeError(f"Milvus server in {self.base_dir} was already started")
        check = ready_check or self.ready_check or grpc_version_ready
        self._wait_port_free_for_launch(port_wait)

        binary = Path(sys.executable).parent / "milvus-server"
        if not binary.exists():
            raise RuntimeError(f"{binary} not found: install the test extras (milvus==2.3.5) into this venv")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # Same program as `milvus-server --data <base_dir> *extra_args`, with the port probe patched (module docstring).
        cmd = [sys.executable, "-c", _LAUNCHER, "--data", str(self.base_dir), *self.extra_args]
        with open(self.output_file, "ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.base_dir,
            )

        deadline = time.monotonic() + timeout
        port_checked = False
        while True:
            if self._proc.poll() is not None:
                self._fail(f"milvus-server exited early with code {self._proc.returncode}")
            if not port_checked:
                configured = _configured_proxy_port(self.base_dir / "configs" / "milvus.yaml")
                if configured is not None:
                    port_checked = True
                    if configured != self.port:
                        self._fail(f"the launcher moved the proxy to port {configured} (expected {self.port})")
            if check(self.address):
                return
            if time.monotonic() >= deadline:
                self._fail(f"Milvus did not become ready within {timeout:.0f} s")
            time.sleep(0.25)

    def stop(self, grace: float = 5.0, timeout: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` s, then wait (up to ``timeout`` s) until the group
        is gone and nothing listens on the port any more. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session=True: the launcher leads its own process group
        self._signal_group(pgid, signal.SIGTERM)
        grace_deadline = time.monotonic() + grace
        while self._group_alive(pgid, proc) and time.monotonic() < grace_deadline:
            time.sleep(0.1)
        if self._group_alive(pgid, proc):
            self._signal_group(pgid, signal.SIGKILL)
            kill_deadline = time.monotonic() + timeout
            while self._group_alive(pgid, proc) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        port_deadline = time.monotonic() + timeout
        while _listening(self.host, self.port) and time.monotonic() < port_deadline:
            time.sleep(0.2)

    def remove_binaries(self) -> None:
        """Delete the ~250 MB of binaries the launcher unpacks into ``base_dir/bin`` (only while stopped)."""
        if self._proc is None:
            shutil.rmtree(self.base_dir / "bin", ignore_errors=True)

    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- diagnostics ---------------------------------------------------------------------------------------------

    def log_tail(self, n: int = 60) -> str:
        """Last ``n`` lines of the launcher's output and of the newest file in ``base_dir/logs``."""
        parts = []
        candidates = [self.output_file]
        logs = self.base_dir / "logs"
        if logs.is_dir():
            files = [p for p in logs.iterdir() if p.is_file()]
            if files:
                candidates.append(max(files, key=lambda p: p.stat().st_mtime))
        for path in candidates:
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as exc:
                parts.append(f"--- {path}: unreadable ({exc})")
                continue
            parts.append(f"--- {path} (last {min(n, len(lines))} of {len(lines)} lines)")
            parts.extend(lines[-n:])
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"MilvusServer(base_dir={str(self.base_dir)!r}, extra_args={self.extra_args!r}, pid={self.pid})"

    # -- internals -----------------------------------------------------------------------------------------------

    def _wait_port_free_for_launch(self, port_wait: float) -> None:
        if _listening(self.host, self.port):
            raise RuntimeError(
                f"something already listens on {self.address}; the embedded Milvus needs that fixed port "
                "(one instance per machine). Stop the other server first (see `pgrep -af milvus`)."
            )
        deadline = time.monotonic() + port_wait
        while not _bindable(self.host, self.port):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"port {self.port} on {self.host} stayed unbindable for {port_wait:.0f} s")
            time.sleep(0.5)

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{why}\ncommand: milvus-server --data {self.base_dir} {' '.join(self.extra_args)}\n{tail}")

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    @staticmethod
    def _group_alive(pgid: int, proc: subprocess.Popen[bytes]) -> bool:
        proc.poll()  # reap the launcher so it does not linger as a zombie member of the group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class MilvusHarness:
    """Keeps at most one server running for a test session; restarts it (fresh data dir) when the args change."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = Path(tmp_root)
        self._server: MilvusServer | None = None
        self._count = 0

    @property
    def current(self) -> MilvusServer | None:
        return self._server

    def get(self, extra_args: tuple[str, ...] = (), *, ready_check: ReadyCheck | None = None) -> MilvusServer:
        extra_args = tuple(extra_args)
        server = self._server
        if server is not None and server.extra_args == extra_args and server.running:
            return server
        self.close()
        self._count += 1
        server = MilvusServer(self.tmp_root / f"milvus-{self._count}", extra_args, ready_check=ready_check)
        self._server = server  # set first, so close() also cleans up after an interrupted start
        server.start()
        return server

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            server.remove_binaries()
