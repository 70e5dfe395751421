"""The real embedded Milvus 2.3.5 for the completion benchmark: the machine-wide lock; start and stop come from the
shared launcher (tools/milvus_launcher.py).

Only one ``milvus-server`` can run per machine (fixed ports 19530/9091/2379), and other people's test runs use it
too, so the server is only started while holding ``/tmp/milvus-test.lock`` (``flock``). When the benchmark itself
was started under ``flock /tmp/milvus-test.lock ...``, an ancestor process already holds the lock and it is not
taken again (that would deadlock).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tools.milvus_launcher import MilvusServer, ReadyCheck, cleanup_after_killed_child

__all__ = ["LOCK_FILE", "EmbeddedMilvus", "cleanup_after_killed_child", "lock_held_by_ancestor", "machine_lock"]

LOCK_FILE = "/tmp/milvus-test.lock"


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


class EmbeddedMilvus(MilvusServer):
    """The shared launcher (tools/milvus_launcher.py) as the benchmark runs it: the stock ``milvus-server``, so
    :meth:`start` first waits (up to 75 s) until a plain ``bind()`` of the port succeeds (TIME_WAIT after a previous
    server; the launcher would silently move ports), which it reports as ``port_wait_s``. ``record``: see
    :func:`cleanup_after_killed_child`."""

    def __init__(self, base: Path, record: Path | None = None) -> None:
        super().__init__(base, patch_port_probe=False, record=record)

    def start(
        self, timeout: float = 90.0, ready_check: ReadyCheck | None = None, port_wait: float | None = 75.0
    ) -> None:
        super().start(timeout, ready_check, port_wait)

    def stop(self, grace: float = 5.0, timeout: float = 10.0, port_timeout: float | None = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` s (its data is thrown away anyway)."""
        super().stop(grace, timeout, port_timeout)
