"""pymilvus_import coexists with pymilvus in one process, ships a clean wheel, and keeps generated code behind _wire.

Everything runs in fresh subprocesses of the venv's python, so import order really is what each test says.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pymilvus_import"

USE_PYMILVUS = """
from pymilvus.grpc_gen import milvus_pb2 as ref
data = ref.ImportRequest(collection_name="c", files=["/a.json"]).SerializeToString()
assert ref.ImportRequest.FromString(data).collection_name == "c"
"""
USE_OURS = """
from pymilvus_import import _wire
request = _wire.encode_get_version_request()
assert isinstance(request, bytes)
from pymilvus_import._generated import milvus_pb2 as ours
assert ours.ImportRequest.FromString(ours.ImportRequest(collection_name="c").SerializeToString()).collection_name == "c"
"""


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, cwd="/"
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.parametrize(
    "first, second",
    [("import pymilvus", "import pymilvus_import"), ("import pymilvus_import", "import pymilvus")],
    ids=["pymilvus-first", "pymilvus_import-first"],
)
def test_both_packages_import_in_either_order(first: str, second: str) -> None:
    proc = _run(f"{first}\n{second}\n{USE_PYMILVUS}\n{USE_OURS}\n{USE_PYMILVUS}\nprint('ok')\n")
    assert proc.stdout.strip().endswith("ok")


def test_generated_modules_then_pymilvus_client_stack() -> None:
    """Our generated modules loaded first, then pymilvus's full client stack (which registers milvus.proto.*)."""
    _run(
        """
        from pymilvus_import._generated import common_pb2, milvus_pb2, schema_pb2
        from pymilvus import MilvusClient, DataType
        from pymilvus.grpc_gen import milvus_pb2 as ref, milvus_pb2_grpc as ref_grpc
        assert ref.ImportRequest.DESCRIPTOR is not milvus_pb2.ImportRequest.DESCRIPTOR
        assert ref.ImportRequest.DESCRIPTOR.full_name == milvus_pb2.ImportRequest.DESCRIPTOR.full_name
        """
    )


def _venv_setuptools_builds_wheels() -> bool:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major_minor = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    has_wheel = importlib.util.find_spec("wheel") is not None
    return major_minor >= (70, 1) or (major_minor >= (69, 0) and has_wheel)


def _build_wheel(tmp_path: Path) -> Path:
    # Build from a copy so the build leaves no build/ or egg-info behind in the working tree.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv*", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "tests"
        ),
    )
    out = tmp_path / "wheels"
    # Offline build with the venv's setuptools when it can make wheels by itself (>= 70.1, or with `wheel`);
    # otherwise (a fresh venv's setuptools 65) pip builds in an isolated env with setuptools from the index.
    isolation = ["--no-build-isolation"] if _venv_setuptools_builds_wheels() else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("pymilvus_import-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_wheel_contents(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert top == {"pymilvus_import"} | dist_info, top
    for required in (
        "pymilvus_import/__init__.py",
        "pymilvus_import/_wire.py",
        "pymilvus_import/py.typed",
        "pymilvus_import/_generated/__init__.py",
        "pymilvus_import/_generated/_pool.py",
        "pymilvus_import/_generated/common_pb2.py",
        "pymilvus_import/_generated/milvus_pb2.py",
        "pymilvus_import/_generated/schema_pb2.py",
        "pymilvus_import/_generated/common_pb2.pyi",
        "pymilvus_import/_generated/milvus_pb2.pyi",
        "pymilvus_import/_cli/__init__.py",
        "pymilvus_import/_files/__init__.py",
        "pymilvus_import/_files/check.py",
        "pymilvus_import/_files/rules.py",
        "pymilvus_import/_files/npy.py",
        "pymilvus_import/_files/parquet.py",
        "pymilvus_import/_files/csv.py",
        "pymilvus_import/_files/json.py",
        "pymilvus_import/_files/full.py",
        "pymilvus_import/_files/source.py",
        "pymilvus_import/_filecheck.py",
    ):
        assert required in names, required
    assert not [n for n in names if "_grpc" in n], "the gRPC service stub is for tests only: the package sends bytes"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith(".proto")], "the .proto sources are not shipped"


def _imports_generated(path: Path, package: Path = PACKAGE) -> bool:
    """True when the module imports pymilvus_import._generated (absolutely or relatively) anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts = path.relative_to(package).parts
    depth = len(parts) - 1  # package nesting below pymilvus_import
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.startswith("pymilvus_import._generated") for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0:
                target = module
            else:
                base = ["pymilvus_import", *parts[:depth]]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, module] if module else base)
            names = [f"{target}.{alias.name}" for alias in node.names]
            if any(
                t == "pymilvus_import._generated" or t.startswith("pymilvus_import._generated.")
                for t in [target, *names]
            ):
                return True
        elif isinstance(node, ast.Call):  # importlib.import_module("pymilvus_import._generated...") and friends
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and "_generated" in arg.value:
                    return True
    return False


def test_only_wire_imports_generated_code() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "_wire.py" in sources
    importers = [p.relative_to(PACKAGE).as_posix() for p in sources if _imports_generated(p)]
    assert importers == ["_wire.py"]


def test_import_checker_sees_the_forms_it_must(tmp_path: Path) -> None:
    fake = tmp_path / "pymilvus_import"
    (fake / "sub").mkdir(parents=True)
    cases = {
        "a.py": "from ._generated import milvus_pb2\n",
        "b.py": "from . import _generated\n",
        "c.py": "import pymilvus_import._generated.milvus_pb2\n",
        "d.py": "from pymilvus_import._generated import common_pb2\n",
        "sub/e.py": "from .._generated import milvus_pb2\n",
        "f.py": "import importlib\nm = importlib.import_module('pymilvus_import._generated.milvus_pb2')\n",
        "ok.py": '"""Mentions _generated only in prose."""\nfrom . import _wire\n',
    }
    for name, text in cases.items():
        (fake / name).write_text(text, encoding="utf-8")
    found = {name for name in cases if _imports_generated(fake / name, fake)}
    assert found == set(cases) - {"ok.py"}


#: The pure modules: decisions with no I/O. They see package errors only (the transports map grpc's at the edge).
PURE_MODULES = (
    "_effects.py",
    "_retry.py",
    "_session.py",
    "_versions.py",
    "_import_flow.py",
    "_tracking.py",
    "_preflight.py",
    "_plan.py",
    "_wire.py",
    "_models.py",
    "_filecheck.py",
    "_files/__init__.py",
    "_files/source.py",
    "_files/npy.py",
    "_files/parquet.py",
    "_files/csv.py",
    "_files/json.py",
    "_files/rules.py",
    "_files/check.py",
    "_files/full.py",
)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_flows_and_the_preflight_import_no_grpc() -> None:
    for name in PURE_MODULES:
        imported = _imported_modules(PACKAGE / name)
        assert not any(m == "grpc" or m.startswith("grpc.") for m in imported), f"{name} imports {sorted(imported)}"
