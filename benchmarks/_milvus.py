"""The real embedded Milvus 2.3.5 for the completion benchmark: the machine-wide lock, start, stop.

Only one ``milvus-server`` can run per machine (fixed ports 19530/9091/2379), and other people's test runs use it
too, so the server is only started while holding ``/tmp/milvus-test.lock`` (``flock``). When the benchmark itself
was started under ``flock /tmp/milvus-test.lock ...``, an ancestor process already holds the lock and it is not
taken again (that would deadlock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

LOCK_FILE = "/tmp/milvus-test.lock"
HOST, PORT = "127.0.0.1", 19530
ADDRESS = f"{HOST}:{PORT}"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def lock_held_by_ancestor(path: str = LOCK_FILE) -> bool:
    """True when this process or one of its ancestors holds a flock on ``path`` (e.g. ``flock path cmd``)."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    ancestors = _ancestors()
    for line in lines:
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == device and int(parts[4]) in ancestors:
            return True
    return False


@contextlib.contextmanager
def machine_lock(wait: float) -> Iterator[str]:
    """Hold the Milvus lock (or find it held by an ancestor); yields how it was obtained. TimeoutError if busy."""
    if lock_held_by_ancestor():
        yield "held by a parent process (flock)"
        return
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{LOCK_FILE} stayed locked by another run for {wait:.0f} s") from None
                if not announced:
                    print(f"  waiting for {LOCK_FILE} (another Milvus run holds it) ...", file=sys.stderr, flush=True)
                    announced = True
                time.sleep(1.0)
        yield "taken by the benchmark"
    finally:
        os.close(fd)  # releases the lock


def _listening() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1.0):
            return True
    except OSError:
        return False


def _bindable() -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, PORT))
        return True
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return False
    finally:
        sock.close()


def _ready() -> bool:
    from pymilvus_import._generated import milvus_pb2, milvus_pb2_grpc

    with grpc.insecure_channel(ADDRESS) as channel:
        try:
            reply = milvus_pb2_grpc.MilvusServiceStub(channel).GetVersion(milvus_pb2.GetVersionRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return reply.status.code == 0 and reply.status.error_code == 0 and bool(reply.version)


class EmbeddedMilvus:
    """``milvus-server --data <base>`` in its own session; stopped by signalling its process group."""

    def __init__(self, base: Path, record: Path | None = None) -> None:
        self.base = base
        #: While the server runs, its process group and directory are written here, for a parent to clean up should
        #: this process be killed before it can stop the server (see cleanup_after_killed_child).
        self.record = record
        self.data_dir = base / "data"
        self.uri = f"http://{ADDRESS}"
        self.address = ADDRESS
        self.proc: subprocess.Popen[bytes] | None = None
        self.port_wait_s = 0.0
        self.startup_s = 0.0
        self.stop_s = 0.0

    def start(self, timeout: float = 90.0, port_wait: float = 75.0) -> None:
        if _listening():
            raise RuntimeError(f"something already listens on {ADDRESS}: another Milvus is running (lock not used?)")
        waiting = time.monotonic()
        deadline = waiting + port_wait
        while not _bindable():  # TIME_WAIT after a previous server; the launcher would silently move ports
            if time.monotonic() >= deadline:
                raise RuntimeError(f"port {PORT} stayed unbindable for {port_wait:.0f} s")
            time.sleep(0.5)
        self.port_wait_s = time.monotonic() - waiting
        binary = Path(sys.executable).parent / "milvus-server"
        self.base.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.base / "server-output.log", "ab") as out:
            self.proc = subprocess.Popen(
                [str(binary), "--data", str(self.base)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.base,
            )
        if self.record is not None:
            self.record.write_text(json.dumps({"pgid": self.proc.pid, "dir": str(self.base)}), encoding="utf-8")
        deadline = started + timeout
        while not _ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited early ({self.proc.returncode}); see {self.base}/logs")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Milvus did not answer GetVersion within {timeout:.0f} s")
            time.sleep(0.25)
        self.startup_s = time.monotonic() - started

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s (its data is thrown away anyway)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        pgid = proc.pid
        stopping = time.monotonic()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive(pgid, proc) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive(pgid, proc):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self._alive(pgid, proc) and time.monotonic() < deadline:
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        deadline = time.monotonic() + timeout
        while _listening() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.stop_s = time.monotonic() - stopping
        if self.record is not None:
            self.record.unlink(missing_ok=True)  # stopped: nothing left for a parent to clean up

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @staticmethod
    def _alive(pgid: int, proc: subprocess.Popen[bytes]) -> bool:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def cleanup_after_killed_child(record: Path) -> str | None:
    """If a completion child died without stopping its server, kill that server's process group and remove its
    directory (both named in ``record``). Returns what was done, or None."""
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
