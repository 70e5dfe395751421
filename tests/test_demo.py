"""``make demo`` (``python -m tools.demo``) must not rot: it is the README's first command.

Three runs: against the session's running Milvus through ``MILVUS_URI`` (the "already running" path), then
``make demo`` starting and stopping its own embedded Milvus (the session server is stopped first: the ports are
fixed; later tests get it restarted by the harness), then a Ctrl+C while its server starts. Each checks that no
process it started is left behind (it looks only at what it started: the demo runs with TMPDIR set to the test's
own directory) and that the temp directory is left empty.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
from milvus_server import MilvusHarness, MilvusServer
from s3_server import S3Harness

pytestmark = [pytest.mark.milvus, pytest.mark.slow, pytest.mark.milvus_restart]  # stops the session's server

REPO = Path(__file__).resolve().parent.parent
ROWS = 1000 + 500


def processes_under(root: Path) -> dict[int, str]:
    """The processes this test started through the demo: those whose command line, executable or working
    directory lies under ``root`` (the demo runs with TMPDIR=root, so its embedded Milvus, the launcher and the
    ``milvus run`` server, live there). Any other Milvus on the machine is none of this test's business."""
    found = {}
    prefix = str(root.resolve())
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            words = [w.decode(errors="replace") for w in (proc / "cmdline").read_bytes().split(b"\0") if w]
        except OSError:
            continue
        places = list(words)
        for link in ("exe", "cwd"):
            try:
                places.append(os.readlink(proc / link))
            except OSError:
                continue
        if any(prefix in place for place in places):
            found[int(proc.name)] = " ".join(words)[:200]
    return found


def demo_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    env["TMPDIR"] = str(tmp)  # whatever the demo creates in "the temp dir" is this test's to inspect
    env.update(extra)
    return env


def check_output(stdout: str) -> list[str]:
    """The demo printed two job ids, both Completed, and the server's count of all rows; returns the ids."""
    match = re.search(r"^Job ids: (\d+), (\d+)$", stdout, re.MULTILINE)
    assert match, stdout
    job_ids = [match.group(1), match.group(2)]
    for job_id, rows in zip(job_ids, (1000, 500), strict=True):
        assert re.search(rf"^  {job_id}  Completed\s+{rows} rows$", stdout, re.MULTILINE), stdout
    assert re.search(rf"^Rows in demo_\w+ according to the server: {ROWS} \(expected {ROWS}\)$", stdout, re.M), stdout
    assert "Demo finished in" in stdout
    return job_ids


# Needs the plain server and leaves it running: runs first of the restarting tests (rank 0, before
# test_reliability_milvus.py), while the plain server the other tests used still runs; a restart less.
@pytest.mark.milvus_restart(rank=0)
def test_demo_uses_the_milvus_at_milvus_uri(milvus: MilvusServer, tmp_path: Path) -> None:
    demo_dir = milvus.data_dir / "pymilvus-import-demo"
    assert not demo_dir.exists()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tools.demo"],
        cwd=REPO,
        env=demo_env(tmp_path, MILVUS_URI=milvus.uri),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stdout = proc.stdout
    check_output(stdout)
    assert f"at {milvus.uri} (from MILVUS_URI; not starting one)" in stdout
    assert f"import files go to {milvus.data_dir}" in stdout  # found the running server's data directory
    assert "$ milvus-import --uri" in stdout and " submit --collection demo_" in stdout and " --wait " in stdout
    assert re.search(r"job \d+: Completed 100%, 1000 rows", proc.stderr), proc.stderr  # the CLI's progress lines
    assert time.monotonic() - started < 90
    assert "starting the embedded Milvus" not in stdout and processes_under(tmp_path) == {}  # started nothing
    assert milvus.running  # and stopped nothing
    collection = re.search(r"created collection (demo_\w+)", stdout)
    assert collection
    with helpers.milvus_client(milvus.uri) as client:
        assert collection.group(1) not in client.list_collections()  # cleaned up after itself
    assert not demo_dir.exists()  # its files and the folder that held them
    assert list(tmp_path.iterdir()) == []


def test_make_demo_starts_and_stops_its_own_milvus(
    milvus_harness: MilvusHarness, s3_harness: S3Harness, tmp_path: Path
) -> None:
    milvus_harness.close()  # the embedded Milvus has fixed ports: one per machine
    s3_harness.close()  # so has SeaweedFS, which the demo's second part (tools/demo_s3.py) starts
    started = time.monotonic()
    proc = subprocess.run(
        # -o: take the venv as installed (no pip run inside the test); the target's recipe runs as written
        ["make", "--no-print-directory", "-o", ".venv/bin/.installed", "demo"],
        cwd=REPO,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stdout = proc.stdout
    check_output(stdout)
    assert "- starting the embedded Milvus: milvus-server --data " in stdout
    assert "- stopped the embedded Milvus; nothing is left running" in stdout
    base = re.search(r"milvus-server --data (\S+)", stdout)
    assert base and Path(base.group(1)).is_relative_to(tmp_path), stdout
    # Part 2: local files staged into the bucket of a Milvus on S3, imported, counted; a missing key refused.
    assert "The server counts 1500 rows" in stdout.split("Starting a real S3 server", 1)[1]
    assert re.search(r"exit 2; import jobs on the server: (\d+) before, \1 after", stdout)
    assert "Demo (S3) done." in stdout
    assert processes_under(tmp_path) == {}
    assert list(tmp_path.iterdir()) == []  # its temporary directories are gone too
    assert elapsed < 180, f"the demo (both parts) took {elapsed:.0f} s"


def test_ctrl_c_while_the_demo_starts_milvus_stops_it(milvus_harness: MilvusHarness, tmp_path: Path) -> None:
    milvus_harness.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.demo"],
        cwd=REPO,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(" run " in cmd for cmd in processes_under(tmp_path).values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_under(tmp_path), "the demo never started Milvus"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted; cleaned up" in out
    assert processes_under(tmp_path) == {}
