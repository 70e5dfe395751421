"""``make demo``: bulk-import a JSON file and a NumPy column group into Milvus with ``milvus-import submit --wait``.

What it does, in under a minute:

1. Uses the Milvus at ``MILVUS_URI`` when that is set and answers; otherwise starts the embedded Milvus 2.3.5
   (``milvus-server --data <temporary dir>`` from this venv, test extra) and stops it at the end, also on Ctrl+C.
2. Creates a small collection ``demo_<random>`` (``id`` INT64 primary key, ``vec`` FLOAT_VECTOR(8)) with pymilvus
   (used for setup and the final row count only; the import itself goes through pymilvus-import).
3. Writes a row-based JSON file (1000 rows) and a column-based NumPy group (500 rows: ``id.npy``, ``vec.npy``) where
   the server reads import files: ``<data dir>/data/...`` for the embedded server. For a server at ``MILVUS_URI`` it
   is ``--data-dir`` / ``MILVUS_DATA_DIR`` when given, else the ``--data`` directory of a local ``milvus-server``
   process, else a temporary directory (fine for a local server with local storage).
4. Runs ``python -m pymilvus_import ... submit --wait`` as a child process, so you see its progress bar (on a
   terminal) or its plain progress lines, then prints the job ids and the row count the server reports.

On a server at ``MILVUS_URI`` the demo collection and files are removed afterwards (``--keep`` keeps them).
Exit code 0 when every job completed and the server counts the expected rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from pymilvus_import import ImportClient, MilvusImportError

HOST = "127.0.0.1"
DEFAULT_PORT = 19530
DIM = 8
JSON_ROWS = 1000
NPY_ROWS = 500
START_TIMEOUT = 90.0
STOP_GRACE = 3.0  # SIGTERM, then SIGKILL: a Milvus that has done work takes ~25 s to stop gracefully; its data is
# a temporary directory, so nothing is lost


class DemoError(Exception):
    """Something the user can act on; printed as one line."""


def say(text: str = "") -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------------------------ the embedded Milvus
def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _configured_proxy_port(config_file: Path) -> int | None:
    """The gRPC port the launcher wrote into configs/milvus.yaml (it moves to the next free port if 19530 is busy)."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^proxy:\n(?:.*\n)*?  port: (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def server_version(uri: str, timeout: float = 2.0) -> str | None:
    """The server's version, or None when it does not answer (a fresh channel each time: no reconnect backoff)."""
    try:
        with ImportClient(uri) as client:
            return client.server_version(timeout=timeout)
    except MilvusImportError:
        return None


class EmbeddedMilvus:
    """``milvus-server --data <base>`` in its own process group; :meth:`stop` ends the whole group."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data_dir = base / "data"  # import files must live here (absolute paths)
        self.log = base / "server-output.log"
        self.uri = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> str:
        binary = Path(sys.executable).parent / "milvus-server"
        if not binary.exists():
            raise DemoError(f"{binary} not found: run 'make install' (the test extra brings milvus==2.3.5)")
        if _listening(HOST, DEFAULT_PORT):
            raise DemoError(
                f"something already listens on {HOST}:{DEFAULT_PORT}; if it is Milvus, run the demo against it with "
                f"MILVUS_URI=http://{HOST}:{DEFAULT_PORT} make demo (the embedded Milvus needs that port)"
            )
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self._proc = subprocess.Popen(
                [str(binary), "--data", str(self.base)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl+C goes to us, and we stop all of it
                cwd=self.base,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise DemoError(f"milvus-server exited with code {self._proc.returncode}:\n{self.log_tail()}")
            port = _configured_proxy_port(self.base / "configs" / "milvus.yaml")
            if port is not None:
                self.uri = f"http://{HOST}:{port}"
                version = server_version(self.uri)
                if version is not None:
                    return version
            if time.monotonic() >= deadline:
                raise DemoError(f"Milvus did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def _group_alive(self, pgid: int) -> bool:
        if self._proc is not None:
            self._proc.poll()  # reap the launcher so it does not linger as a zombie member of the group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period; returns once nothing of it runs. Idempotent."""
        if self._proc is None:
            return
        pgid = self._proc.pid
        for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 15.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while self._group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self._group_alive(pgid):
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server output)"
        return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------ where files go
def _is_local(uri: str) -> bool:
    host = urlsplit(uri if "://" in uri else "tcp://" + uri).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", socket.gethostname())


def running_server_data_dirs() -> list[Path]:
    """The ``--data`` directories of local ``milvus-server`` processes (Linux /proc; empty elsewhere)."""
    found: list[Path] = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        # `milvus-server --data D`, or the same launcher run as `python -c "...milvus.main()..." --data D`
        if "--data" in words and any("milvus" in w for w in words[:3]):
            index = words.index("--data")
            if index + 1 < len(words):
                found.append(Path(words[index + 1]).resolve())
    return found


def import_root_for(uri: str, given: str | None) -> tuple[Path, str]:
    """Where to write import files for a server we did not start, and how that was decided."""
    if given:
        return Path(given).resolve(), "as given"
    if _is_local(uri):
        dirs = running_server_data_dirs()
        if len(dirs) == 1:
            return dirs[0] / "data", "the data directory of the local milvus-server"
    return Path(tempfile.gettempdir()), "a temporary directory (set MILVUS_DATA_DIR if the server cannot read it)"


# ------------------------------------------------------------------------------------------------ data
def vectors(n: int, start_id: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    ids = np.arange(start_id, start_id + n, dtype=np.float32)[:, None]
    result: np.ndarray[Any, np.dtype[np.float32]] = np.sin(ids + np.arange(DIM, dtype=np.float32)[None, :])
    return result.astype(np.float32)


def write_json_rows(path: Path, n: int, start_id: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    vecs = vectors(n, start_id)
    rows = [{"id": start_id + i, "vec": [float(x) for x in vecs[i]]} for i in range(n)]
    path.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return str(path.resolve())


def write_npy_group(directory: Path, n: int, start_id: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "id.npy", np.arange(start_id, start_id + n, dtype=np.int64))
    np.save(directory / "vec.npy", vectors(n, start_id))
    return [str((directory / "id.npy").resolve()), str((directory / "vec.npy").resolve())]


@contextlib.contextmanager
def pymilvus_client(uri: str) -> Iterator[Any]:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""))
    try:
        yield client
    finally:
        client.close()


def create_collection(uri: str, name: str) -> None:
    from pymilvus import DataType

    with pymilvus_client(uri) as client:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index_params)


def row_count(uri: str, name: str) -> int:
    """The server's row count after a flush (segment statistics: exact as soon as an import completed)."""
    with pymilvus_client(uri) as client:
        client.flush(name)
        return int(client.get_collection_stats(name)["row_count"])


def drop_collection(uri: str, name: str) -> None:
    with pymilvus_client(uri) as client:
        client.drop_collection(name)


# ------------------------------------------------------------------------------------------------ the demo
def run_import(uri: str, collection: str, groups: list[str], own_server: bool) -> tuple[int, dict[str, Any]]:
    """``milvus-import submit --wait`` as a child process: progress on the terminal, the JSON result captured."""
    command = [
        sys.executable,
        "-m",
        "pymilvus_import",
        "--uri",
        uri,
        "--json",
        "submit",
        "--collection",
        collection,
        "--wait",
        "--timeout",
        "120",
        *groups,
    ]
    env = dict(os.environ)
    if own_server:  # credentials meant for another server have nothing to do here
        for name in ("MILVUS_URI", "MILVUS_TOKEN", "MILVUS_PASSWORD"):
            env.pop(name, None)
    say("$ milvus-import " + shlex.join(command[3:]))
    say("  (--json: the result goes to this script on stdout; the progress display goes to your terminal)")
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, check=False)
    try:
        result = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        result = {"error": {"message": f"unreadable output: {proc.stdout[:200]!r}"}}
    return proc.returncode, result


def demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    say("pymilvus-import demo: bulk import with milvus-import submit --wait")
    uri = os.environ.get("MILVUS_URI", "").strip()
    server: EmbeddedMilvus | None = None
    with contextlib.ExitStack() as cleanup:
        version = server_version(uri, timeout=5) if uri else None
        if uri and version is not None:
            root, why = import_root_for(uri, args.data_dir or os.environ.get("MILVUS_DATA_DIR"))
            say(f"- Milvus {version} at {uri} (from MILVUS_URI; not starting one)")
            say(f"- import files go to {root} ({why})")
        else:
            if uri:
                say(f"- MILVUS_URI={uri} does not answer; starting the embedded Milvus instead")
            base = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pymilvus-import-demo-")))
            server = EmbeddedMilvus(base / "milvus")
            cleanup.callback(_stop, server)
            say(f"- starting the embedded Milvus: milvus-server --data {server.base}")
            version = server.start()
            uri = server.uri
            root = server.data_dir
            say(f"- Milvus {version} at {uri}, ready after {time.monotonic() - started:.1f} s")

        collection = f"demo_{uuid.uuid4().hex[:8]}"
        create_collection(uri, collection)
        if server is None and not args.keep:
            cleanup.callback(_drop, uri, collection)
        say(f"- created collection {collection}: id INT64 primary key, vec FLOAT_VECTOR({DIM})")

        files_dir = root / "pymilvus-import-demo" / collection
        if server is None and not args.keep:
            cleanup.callback(shutil.rmtree, files_dir, True)
        json_file = write_json_rows(files_dir / "rows.json", JSON_ROWS, start_id=0)
        npy_files = write_npy_group(files_dir / "npy", NPY_ROWS, start_id=JSON_ROWS)
        say(f"- wrote {JSON_ROWS} rows as row-based JSON:     {json_file}")
        say(f"- wrote {NPY_ROWS} rows as a NumPy column group: {', '.join(npy_files)}")
        say()

        code, result = run_import(uri, collection, [json_file, ",".join(npy_files)], own_server=server is not None)
        say()
        job_ids = result.get("job_ids") or []
        say(f"Job ids: {', '.join(job_ids) if job_ids else '(none)'}")
        for job in result.get("jobs") or []:
            rows = f"{job['imported_rows']} rows"
            reason = f"  {job['reason']}" if job.get("reason") else ""
            say(f"  {job['job_id']}  {job['state']:<9}  {rows:>9}{reason}")
        if code != 0:
            message = (result.get("error") or {}).get("message", "see above")
            say(f"The import did not succeed (milvus-import exit code {code}): {message}")
            if server is None:
                say("  Is the data directory one the server reads? Set MILVUS_DATA_DIR (see tools/demo.py).")
        expected = JSON_ROWS + NPY_ROWS
        counted = row_count(uri, collection)
        say(f"Rows in {collection} according to the server: {counted} (expected {expected})")
        ok = code == 0 and counted == expected
        if server is None and args.keep:
            say(f"- kept collection {collection} and the files in {files_dir}")
    if server is not None:
        say("- stopped the embedded Milvus; nothing is left running")
    elif not args.keep:
        say(f"- dropped the demo collection and its files from {uri}")
    say(f"Demo {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s.")
    return 0 if ok else 1


def _stop(server: EmbeddedMilvus) -> None:
    say("- stopping the embedded Milvus ...")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not leave it running
    try:
        server.stop()
    finally:
        signal.signal(signal.SIGINT, previous)


def _drop(uri: str, collection: str) -> None:
    with contextlib.suppress(Exception):
        drop_collection(uri, collection)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run the cleanups (stop the server) on SIGTERM/SIGHUP too


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Environment: MILVUS_URI (use that server), MILVUS_TOKEN, MILVUS_DATA_DIR (see --data-dir).",
    )
    parser.add_argument("--data-dir", help="for a server at MILVUS_URI: the directory it reads import files from")
    parser.add_argument("--keep", action="store_true", help="keep the demo collection and files on that server")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    try:
        return demo(args)
    except KeyboardInterrupt:
        say("\ninterrupted; cleaned up")
        return 130
    except (DemoError, MilvusImportError) as error:
        say(f"demo failed: {error}")
        return 1
    except Exception as error:  # pymilvus setup errors and the like: one line, the cleanups have run
        say(f"demo failed: {type(error).__name__}: {error}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
