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
from tools.milvus_launcher import LaunchError, MilvusServer, PortBusyError

DIM = 8
JSON_ROWS = 1000
NPY_ROWS = 500
START_TIMEOUT = 90.0
STOP_GRACE = 3.0  # SIGTERM, then SIGKILL: a Milvus that has done work takes ~25 s to stop gracefully; its data is
# a temporary directory, so nothing is lost


#: The folder, in the directory the server reads, that holds one sub-folder of files per demo run.
DEMO_FOLDER = "pymilvus-import-demo"


class DemoError(Exception):
    """Something the user can act on; printed as one line."""


def say(text: str = "") -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------------------------ the embedded Milvus
def server_version(uri: str, timeout: float = 2.0) -> str | None:
    """The server's version, or None when it does not answer (a fresh channel each time: no reconnect backoff)."""
    try:
        with ImportClient(uri) as client:
            return client.server_version(timeout=timeout)
    except MilvusImportError:
        return None


def embedded_milvus(base: Path) -> MilvusServer:
    """The shared launcher (tools/milvus_launcher.py) as the demo runs it: the stock ``milvus-server --data <base>``
    in its own process group (Ctrl+C goes to us, and stopping ends all of it), used on whatever gRPC port it wrote
    into configs/milvus.yaml (it moves to the next free port if it cannot bind 19530)."""
    return MilvusServer(base, patch_port_probe=False, follow_port=True, tail_lines=20)


def start_embedded(server: MilvusServer) -> str:
    """Start it and wait until pymilvus-import gets the server's version; returns that version."""
    version = ""

    def answers(address: str) -> bool:
        nonlocal version
        version = server_version(f"http://{address}") or ""
        return bool(version)

    try:
        server.start(START_TIMEOUT, ready_check=answers, port_wait=None)
    except PortBusyError as busy:
        raise DemoError(
            f"something already listens on {busy.host}:{busy.port}; if it is Milvus, run the demo against it with "
            f"MILVUS_URI=http://{busy.host}:{busy.port} make demo (the embedded Milvus needs that port)"
        ) from None
    except LaunchError as error:
        raise DemoError(str(error)) from None
    return version


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
    server: MilvusServer | None = None
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
            server = embedded_milvus(base / "milvus")
            cleanup.callback(_stop, server)
            say(f"- starting the embedded Milvus: milvus-server --data {server.base_dir}")
            version = start_embedded(server)
            uri = server.uri
            root = server.data_dir
            say(f"- Milvus {version} at {uri}, ready after {time.monotonic() - started:.1f} s")

        collection = f"demo_{uuid.uuid4().hex[:8]}"
        create_collection(uri, collection)
        if server is None and not args.keep:
            cleanup.callback(_drop, uri, collection)
        say(f"- created collection {collection}: id INT64 primary key, vec FLOAT_VECTOR({DIM})")

        files_dir = root / DEMO_FOLDER / collection
        if server is None and not args.keep:
            cleanup.callback(remove_demo_files, files_dir)
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


def _stop(server: MilvusServer) -> None:
    say("- stopping the embedded Milvus ...")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not leave it running
    try:
        server.stop(grace=STOP_GRACE, timeout=15.0)
    finally:
        signal.signal(signal.SIGINT, previous)


def remove_demo_files(files_dir: Path) -> None:
    """Remove this run's files, and the shared ``pymilvus-import-demo`` folder above them once it is empty (another
    demo running at the same time keeps it)."""
    shutil.rmtree(files_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        files_dir.parent.rmdir()


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
