"""Start and stop the embedded Milvus 2.3.5 server (``milvus-server`` from the ``milvus`` wheel): the one launcher.

The tests (``tests/milvus_server.py``), ``make demo`` (``tools/demo.py``) and the completion benchmark
(``benchmarks/_milvus.py``) all run Milvus through :class:`MilvusServer`.

The server's ports are fixed (19530 gRPC, 9091 metrics, 2379 etcd), so only one instance can run on a machine.
Readiness is checked with a real ``GetVersion`` RPC (by default through the generated stub), not with the health
endpoint.

Two things about the launcher shape this module:

- ``milvus-server`` is a Python launcher that spawns ``<base>/bin/milvus run standalone``. It is started in a new
  session (so a Ctrl+C in the terminal goes to the caller only) and stopped by signalling the whole process group,
  so the Go child never outlives it. A graceful stop (SIGTERM) takes ~24 s once the server has done any work (the
  proxy keeps retrying the already stopped root coordinator), so :meth:`MilvusServer.stop` waits only a short grace
  before SIGKILL; every server here uses a throw-away data dir, so nothing is lost.
- Before launching, the launcher probes each port with a plain ``bind()`` (no ``SO_REUSEADDR``) and silently moves
  a service to the next free port if that fails. After a server with open client connections stops, 19530 sits in
  TIME_WAIT for ~60 s: nothing listens, the Go server itself could bind it (Go sets ``SO_REUSEADDR``), yet the
  launcher's probe fails and the proxy would move to 19531. The port the launcher really chose is the one it
  writes to ``configs/milvus.yaml``. Three ways to deal with that, one per caller:

  - default (tests): the launcher's own entry point (``milvus.main``, the same one ``milvus-server`` calls) is run
    with that probe using ``SO_REUSEADDR`` (:data:`PATCHED_LAUNCHER`), which still fails when something really
    listens; :meth:`MilvusServer.start` waits until such a bind succeeds and fails at once if the proxy moved anyway;
  - ``patch_port_probe=False`` (benchmark): the stock ``milvus-server``; :meth:`~MilvusServer.start` waits until a
    plain ``bind()`` succeeds (how long is kept in ``port_wait_s``), and fails if the proxy moved anyway;
  - ``follow_port=True`` with ``port_wait=None`` (demo): the stock ``milvus-server``, no waiting, and the server is
    used on whatever port the launcher wrote into ``configs/milvus.yaml``.

``record``: while the server runs, its process group and directory are written to that file (JSON), so that a
parent process can clean up with :func:`cleanup_after_killed_child` should the owner be killed before it could stop
the server.
"""

from __future__ import annotations

import contextlib
import errno
import json
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

HOST = "127.0.0.1"
PORT = 19530

ReadyCheck = Callable[[str], bool]

# Runs the milvus-server entry point with the launcher's port probe using SO_REUSEADDR (see the module docstring).
PATCHED_LAUNCHER = """
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


class LaunchError(RuntimeError):
    """Milvus could not be started; the message says why (with the tail of its output when it ran at all)."""


class PortBusyError(LaunchError):
    """Something already listens on the fixed gRPC port (another Milvus: one instance per machine)."""

    def __init__(self, host: str, port: int, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


def milvus_server_binary() -> Path:
    """``milvus-server`` of this interpreter's venv (the ``milvus==2.3.5`` test extra)."""
    return Path(sys.executable).parent / "milvus-server"


def listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def bindable(host: str, port: int, *, reuse_address: bool = True) -> bool:
    """True when ``bind()`` succeeds: with ``SO_REUSEADDR`` (the probe of :data:`PATCHED_LAUNCHER`) or without (the
    stock launcher's probe, which fails while the port is in TIME_WAIT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_address:
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
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

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


def configured_proxy_port(config_file: Path) -> int | None:
    """The proxy (gRPC) port the launcher wrote into configs/milvus.yaml (None while the file is not there yet)."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^proxy:\n(?:.*\n)*?  port: (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True while any process of the group runs (``proc``, its leader, is reaped first so that a zombie launcher
    does not count as a living member)."""
    if proc is not None:
        proc.poll()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen[bytes], grace: float, timeout: float) -> None:
    """SIGTERM the process group that ``proc`` leads, SIGKILL it after ``grace`` s, wait (up to ``timeout`` s) until
    the group is gone, and reap ``proc``."""
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    grace_deadline = time.monotonic() + grace
    while group_alive(pgid, proc) and time.monotonic() < grace_deadline:
        time.sleep(0.1)
    if group_alive(pgid, proc):
        signal_group(pgid, signal.SIGKILL)
        kill_deadline = time.monotonic() + timeout
        while group_alive(pgid, proc) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def go_server_pids(pgid: int) -> list[int]:
    """Pids of the ``milvus run standalone`` processes (the Go server) in process group ``pgid``. The launcher
    outlives a Go server that panicked (e.g. Milvus on S3 with S3 down panics after ~55 s), so watch this one."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if len(argv) >= 3 and argv[0].endswith(b"milvus") and argv[1:3] == [b"run", b"standalone"]:
            pids.append(int(entry.name))
    return pids


def cleanup_after_killed_child(record: Path) -> str | None:
    """If the process that started a server with ``record`` died without stopping it, kill that server's process
    group and remove its directory (both named in ``record``). Returns what was done, or None."""
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    done = []
    try:
        os.killpg(int(info["pgid"]), signal.SIGKILL)
        done.append(f"killed the leftover milvus-server process group {info['pgid']}")
    except (ProcessLookupError, PermissionError):
        pass
    if Path(info["dir"]).exists():
        shutil.rmtree(info["dir"], ignore_errors=True)
        done.append(f"removed {info['dir']}")
    return "; ".join(done) or None


class MilvusServer:
    """One embedded Milvus server process tree rooted in ``base_dir`` (``milvus-server --data base_dir``).

    ``patch_port_probe``, ``follow_port`` and ``record``: see the module docstring. ``tail_lines``: how many lines
    of output :meth:`log_tail` (and so a start failure) shows.
    """

    def __init__(
        self,
        base_dir: Path,
        extra_args: tuple[str, ...] = (),
        *,
        ready_check: ReadyCheck | None = None,
        patch_port_probe: bool = True,
        follow_port: bool = False,
        record: Path | None = None,
        tail_lines: int = 60,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.extra_args = tuple(extra_args)
        self.ready_check = ready_check
        self.patch_port_probe = patch_port_probe
        self.follow_port = follow_port
        self.record = record
        self.tail_lines = tail_lines
        self.host = HOST
        self._use_port(PORT)
        #: The only place import files may be put: the server's local storage root (paths sent must be absolute).
        self.data_dir = self.base_dir / "data"
        self.output_file = self.base_dir / "server-output.log"
        #: Timings of the last start (port wait, launch to ready) and stop, in seconds.
        self.port_wait_s = 0.0
        self.startup_s = 0.0
        self.stop_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The launcher's pid, which is also the process group id of the whole server."""
        return self._proc.pid if self._proc is not None else None

    @property
    def command(self) -> list[str]:
        """What is run: ``milvus-server --data <base_dir> *extra_args``, by default with the port probe patched."""
        head = [sys.executable, "-c", PATCHED_LAUNCHER] if self.patch_port_probe else [str(milvus_server_binary())]
        return [*head, "--data", str(self.base_dir), *self.extra_args]

    def start(
        self, timeout: float = 90.0, ready_check: ReadyCheck | None = None, port_wait: float | None = 20.0
    ) -> None:
        """Launch the server and block until ``ready_check(address)`` is true (default: a GetVersion RPC).

        ``port_wait``: how long to wait for the port to become bindable (TIME_WAIT of a previous server) by the
        launcher's probe; None: do not wait (for ``follow_port``). Raises :class:`LaunchError` (a RuntimeError)."""
        if self._proc is not None:
            raise LaunchError(f"Milvus server in {self.base_dir} was already started")
        check = ready_check or self.ready_check or grpc_version_ready
        binary = milvus_server_binary()
        if not binary.exists():
            raise LaunchError(f"{binary} not found: run 'make install' (the test extra brings milvus==2.3.5)")
        self._use_port(PORT)
        self._wait_port_free_for_launch(port_wait)

        self.base_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.output_file, "ab") as out:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a Ctrl+C goes to the caller, and stop() ends it all
                cwd=self.base_dir,
            )
        if self.record is not None:
            self.record.write_text(json.dumps({"pgid": self._proc.pid, "dir": str(self.base_dir)}), encoding="utf-8")

        deadline = started + timeout
        config_file = self.base_dir / "configs" / "milvus.yaml"
        go_server_seen = False
        while True:
            if self._proc.poll() is not None:
                self._fail(f"milvus-server exited early with code {self._proc.returncode}")
            if go_server_pids(self._proc.pid):
                go_server_seen = True
            elif go_server_seen:
                self._fail("the Go server ('milvus run standalone') exited while milvus-server kept running")
            configured = configured_proxy_port(config_file)
            if configured is not None and configured != self.port:
                if not self.follow_port:
                    self._fail(f"the launcher moved the proxy to port {configured} (expected {self.port})")
                self._use_port(configured)
            if (configured is not None or not self.follow_port) and check(self.address):
                break
            if time.monotonic() >= deadline:
                self._fail(f"Milvus did not become ready within {timeout:.0f} s")
            time.sleep(0.25)
        self.startup_s = time.monotonic() - started

    @property
    def go_server_running(self) -> bool:
        """True while the Go server (``milvus run standalone``) of this launcher runs."""
        return self._proc is not None and bool(go_server_pids(self._proc.pid))

    def stop(self, grace: float = 5.0, timeout: float = 20.0, port_timeout: float | None = None) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` s, then wait (up to ``timeout`` s) until the group
        is gone and (up to ``port_timeout`` s, default ``timeout``) until nothing listens on the port any more.
        Idempotent; interrupted, it can be called again."""
        proc = self._proc
        if proc is None:
            return
        stopping = time.monotonic()
        stop_process_group(proc, grace, timeout)  # start_new_session=True: the launcher leads its own group
        self._proc = None
        port_deadline = time.monotonic() + (timeout if port_timeout is None else port_timeout)
        while listening(self.host, self.port) and time.monotonic() < port_deadline:
            time.sleep(0.2)
        self.stop_s = time.monotonic() - stopping
        if self.record is not None:
            self.record.unlink(missing_ok=True)  # stopped: nothing left for a parent to clean up

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

    def log_tail(self, n: int | None = None) -> str:
        """Last ``n`` lines (default ``tail_lines``) of the launcher's output and of the newest file in
        ``base_dir/logs``."""
        n = self.tail_lines if n is None else n
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

    def _use_port(self, port: int) -> None:
        self.port = port
        self.address = f"{self.host}:{port}"
        self.uri = f"http://{self.host}:{port}"

    def _wait_port_free_for_launch(self, port_wait: float | None) -> None:
        if listening(self.host, self.port):
            raise PortBusyError(
                self.host,
                self.port,
                f"something already listens on {self.address}; the embedded Milvus needs that fixed port "
                "(one instance per machine). Stop the other server first (see `pgrep -af milvus`).",
            )
        if port_wait is None:
            self.port_wait_s = 0.0
            return
        waiting = time.monotonic()
        deadline = waiting + port_wait
        while not bindable(self.host, self.port, reuse_address=self.patch_port_probe):
            if time.monotonic() >= deadline:
                raise LaunchError(f"port {self.port} on {self.host} stayed unbindable for {port_wait:.0f} s")
            time.sleep(0.5)
        self.port_wait_s = time.monotonic() - waiting

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise LaunchError(f"{why}\ncommand: milvus-server --data {self.base_dir} {' '.join(self.extra_args)}\n{tail}")
