"""Running from the repository root: the source package shadows any installed one, and ``generated/`` is mapped to
``pymilvus_import._generated`` only at install time. Both ``python -c "import pymilvus_import; ..."`` and
``python -m pymilvus_import`` must still reach a server (issue 10).

The child runs with ``-S`` and the venv's site-packages on PYTHONPATH: the dependencies (grpc, protobuf) import, but
no ``.pth`` file runs, so the editable install's finder (which would map ``generated/`` itself) is not there, exactly
like a wheel that the source tree shadows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from fake_milvus import Milvus24TestServer

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.test_server(version="v2.4.10", collections=("books",))


def run_from_root(*args: str, isolated: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "PYTHON"))}
    head = [sys.executable]
    if isolated:
        paths = sysconfig.get_paths()
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys((paths["purelib"], paths["platlib"])))
        head.append("-S")
    return subprocess.run(
        [*head, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


CODE = """
import pymilvus_import, sys
assert pymilvus_import.__file__.startswith(sys.argv[2]), pymilvus_import.__file__
with pymilvus_import.ImportClient(sys.argv[1]) as client:
    print(client.server_version(timeout=10))
"""


@pytest.mark.parametrize("isolated", [True, False], ids=["shadowing-installed", "editable"])
def test_python_c_from_the_repository_root(server: Milvus24TestServer, isolated: bool) -> None:
    proc = run_from_root("-c", CODE, server.uri, str(ROOT / "pymilvus_import"), isolated=isolated)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "v2.4.10"
    assert [c.method for c in server.requests] == ["GetVersion"]


@pytest.mark.parametrize("isolated", [True, False], ids=["shadowing-installed", "editable"])
def test_python_m_from_the_repository_root(server: Milvus24TestServer, isolated: bool) -> None:
    proc = run_from_root("-m", "pymilvus_import", "list", "--uri", server.uri, isolated=isolated)
    assert proc.returncode == 0, proc.stderr
    assert "ModuleNotFoundError" not in proc.stderr
    assert "ListImportTasks" in [c.method for c in server.requests]
