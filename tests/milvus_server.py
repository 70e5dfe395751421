"""The embedded Milvus 2.3.5 server (``milvus-server`` from the ``milvus`` wheel) for tests.

Starting, readiness (a real ``GetVersion`` RPC), stopping and the port handling live in ``tools/milvus_launcher.py``,
the one launcher of the repository (shared with ``make demo`` and the benchmarks); read its docstring for the
details (fixed ports, process group, the patched port probe). Tests use its default mode: the launcher's port
probe patched to use ``SO_REUSEADDR``, and a start that fails if the proxy is not on 19530 after all.

This module re-exports what tests use (:class:`MilvusServer`, :func:`grpc_version_ready`, ...) and adds
:class:`MilvusHarness`, which keeps one server per test session.
"""

from __future__ import annotations

from pathlib import Path

from tools.milvus_launcher import HOST, PORT, LaunchError, MilvusServer, ReadyCheck, grpc_version_ready

__all__ = ["HOST", "PORT", "LaunchError", "MilvusHarness", "MilvusServer", "ReadyCheck", "grpc_version_ready"]


#: How long the harness lets a server stop gracefully before SIGKILL. A server that has done any work takes ~24 s to
#: stop on SIGTERM (so the launcher's 5 s default always ended in SIGKILL anyway); every harness server has its own
#: throw-away data dir, so nothing is lost by killing it at once, and each restart is ~5 s shorter.
STOP_GRACE = 0.0


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
            server.stop(grace=STOP_GRACE)
            server.remove_binaries()
