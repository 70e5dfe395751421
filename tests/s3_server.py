"""A real S3 server for tests (SeaweedFS, ``tools/seaweedfs_launcher.py``) and the embedded Milvus 2.3.5 on it.

- :class:`S3Harness` keeps one SeaweedFS per test session (restarted only if it died).
- :func:`milvus_on_s3` asks the Milvus harness for a server whose storage is ``BUCKET`` on that S3 server: S3 is
  checked healthy first, and the Go server is watched (Milvus on S3 panics ~55 s after S3 goes away while the
  launcher runs on), so a dead one is restarted instead of handed out. Tests that need it are grouped in one module
  so the harness restarts Milvus as few times as possible.
- :func:`s3_client` is boto3, an independent client to look at the bucket (what is really there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from milvus_server import MilvusHarness, MilvusServer

from pymilvus_import._storage import ObjectStorage
from tools.seaweedfs_launcher import ACCESS_KEY, SECRET_KEY, SeaweedFS

__all__ = [
    "ACCESS_KEY",
    "BUCKET",
    "ROOT_PATH",
    "SECRET_KEY",
    "S3Harness",
    "SeaweedFS",
    "milvus_on_s3",
    "s3_client",
    "storage_for",
]

#: Milvus's bucket (``minio.bucketName``) and its own data prefix (``minio.rootPath``).
BUCKET = "milvus-bucket"
ROOT_PATH = "files"


class S3Harness:
    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = Path(tmp_root)
        self._server: SeaweedFS | None = None
        self._count = 0

    def get(self) -> SeaweedFS:
        server = self._server
        if server is not None and server.healthy():
            return server
        self.close()
        self._count += 1
        server = SeaweedFS(self.tmp_root / f"s3-{self._count}")
        self._server = server
        server.start()
        return server

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()


def milvus_on_s3(milvus: MilvusHarness, s3: SeaweedFS) -> MilvusServer:
    """A running Milvus whose storage is ``BUCKET`` on ``s3`` (which must be healthy: start S3 first)."""
    if not s3.healthy():
        raise RuntimeError(f"S3 at {s3.endpoint} is not healthy; Milvus would panic on it\n{s3.log_tail()}")
    args = s3.milvus_args(BUCKET, ROOT_PATH)
    server = milvus.get(args)
    if not server.go_server_running:
        milvus.close()
        server = milvus.get(args)
    return server


def s3_client(s3: SeaweedFS) -> Any:
    return s3.boto3_client()


def storage_for(s3: SeaweedFS, bucket: str, prefix: str, **overrides: Any) -> ObjectStorage:
    settings: dict[str, Any] = {"endpoint": s3.endpoint, "access_key": s3.access_key, "secret_key": s3.secret_key}
    settings.update(overrides)
    return ObjectStorage(f"s3://{bucket}/{prefix}", **settings)
