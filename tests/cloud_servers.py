"""Object-store emulators for tests that need no Milvus: each is started on a free port by the test session, in its
own process group and folder, and stopped at the end (tests look only at what they started).

- :class:`Azurite` — Microsoft's Azure Storage emulator (npm ``azurite``, pinned in ``tools/azurite/package.json``,
  installed into ``.tools/azurite`` by ``make install``). Blob service only; it checks SharedKey signatures (a wrong
  account key answers 403). :meth:`Azurite.blob_service` is the Azure SDK (``azure-storage-blob``), an independent
  client to look at the container.
- :class:`MotoS3` — moto's S3 server (PyPI ``moto[server]``) with IAM authentication on: every request is signed by
  an IAM user's key and checked (a wrong secret answers 403 SignatureDoesNotMatch), IAM policies decide what a key
  may do (a key without ``s3:GetObject`` gets 403 AccessDenied), and multipart parts below 5 MiB are refused
  (EntityTooSmall), as AWS does. Same interface as ``tools.seaweedfs_launcher.SeaweedFS`` for the S3 tests
  (``endpoint``, ``access_key``, ``secret_key``, ``boto3_client()``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tools.milvus_launcher import HOST, LaunchError, listening, stop_process_group
from tools.seaweedfs_launcher import boto3_s3_client

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Process:
    """A server process in its own session, logging to ``base_dir/output.log``."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.output_file = self.base_dir / "output.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def _launch(self, command: list[str], env: dict[str, str], timeout: float) -> None:
        for _attempt in range(3):  # a free port can be taken between the probe and the bind: try another one
            self.port = free_port()
            with open(self.output_file, "ab") as out:
                self._proc = subprocess.Popen(
                    [part.replace("{port}", str(self.port)) for part in command],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=self.base_dir,
                    env=env,
                )
            deadline = time.monotonic() + timeout
            while not listening(HOST, self.port):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                return
            self.stop()
        raise LaunchError(f"{command[0]} did not listen within {timeout:.0f} s\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process_group(proc, 5.0, 10.0)

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.output_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join([f"--- {self.output_file}", *lines[-n:]])


class Azurite(_Process):
    """Azurite's Blob service with one storage account (a random key), data on disk in ``base_dir``."""

    account = "pmitest"

    def __init__(self, base_dir: Path) -> None:
        super().__init__(base_dir)
        self.account_key = base64.b64encode(os.urandom(64)).decode()
        self.endpoint = ""

    def start(self) -> None:
        if not AZURITE_BIN.exists():
            raise LaunchError(f"{AZURITE_BIN} not found: run 'make install' (it installs Azurite from npm)")
        if shutil.which("node") is None:
            raise LaunchError("Azurite needs Node.js (node) on PATH")
        env = dict(os.environ, AZURITE_ACCOUNTS=f"{self.account}:{self.account_key}")
        command = [
            str(AZURITE_BIN),
            "--blobHost",
            HOST,
            "--blobPort",
            "{port}",
            "--location",
            str(self.base_dir / "data"),
            "--disableTelemetry",  # it would try to reach a telemetry host
            "--skipApiVersionCheck",
        ]
        self._launch(command, env, timeout=30.0)
        self.endpoint = f"http://{HOST}:{self.port}/{self.account}"

    def connection_string(self, key: str | None = None) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={key or self.account_key};"
            f"BlobEndpoint={self.endpoint};"
        )

    def blob_service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())


class MotoS3(_Process):
    """moto's server with IAM authentication: ``access_key``/``secret_key`` belong to an IAM user allowed every
    action; :meth:`identity` makes other users with their own policies."""

    #: Requests moto serves before it starts checking signatures: the three IAM calls that make the first user.
    _SETUP_REQUESTS = 3

    def __init__(self, base_dir: Path) -> None:
        super().__init__(base_dir)
        self.endpoint = ""
        self.access_key = ""
        self.secret_key = ""

    def start(self) -> None:
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(self._SETUP_REQUESTS))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(name, None)
        command = [str(Path(sys.executable).parent / "moto_server"), "-H", HOST, "-p", "{port}"]
        self._launch(command, env, timeout=30.0)  # readiness by TCP connect: an HTTP probe would count as a request
        self.endpoint = f"http://{HOST}:{self.port}"
        self.access_key, self.secret_key = self._user(
            "milvus", {"Effect": "Allow", "Action": "*", "Resource": "*"}, "x", "x"
        )

    def _user(self, name: str, statement: dict[str, Any], key: str, secret: str) -> tuple[str, str]:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )
        iam.create_user(UserName=name)
        created = iam.create_access_key(UserName=name)["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
        return str(created["AccessKeyId"]), str(created["SecretAccessKey"])

    def identity(self, name: str, statement: dict[str, Any]) -> tuple[str, str]:
        """A new IAM user whose only policy is ``statement``: its (access key, secret key)."""
        return self._user(name, statement, self.access_key, self.secret_key)

    def boto3_client(self) -> Any:
        return boto3_s3_client(self.endpoint, self.access_key, self.secret_key)
