"""Compile protos/ into generated/ (``make generate``) or check that generated/ is current (``--check``).

protoc's Python output registers every file in protobuf's *default* descriptor pool and imports its siblings as
top-level modules. Both break inside a library that must live next to pymilvus (which registers the same
``milvus.proto.*`` names), so the output is post-processed in three documented ways:

1. ``_descriptor_pool.Default()`` becomes the package-private pool in ``generated/_pool.py``;
2. sibling imports (``import common_pb2``) become relative imports, so ``generated/`` works as the
   ``pymilvus_import._generated`` package;
3. an enum value named like a Python keyword (``DataType.None``, Milvus's own name, kept so the wire and the
   value names match the server's) cannot be declared in a ``.pyi``: protoc writes ``None: _ClassVar[DataType]``,
   a syntax error for mypy. Those declarations are left out of the ``.pyi`` (the value is still in the
   descriptors, read as ``DataType.Value("None")`` / by its number, which is what travels);
4. the gRPC service stub (``milvus_pb2_grpc.py``) is not part of the package, which sends raw bytes and needs no
   stub: it goes to ``tools/milvus_pb2_grpc.py`` for the tests and benchmarks (the "floor" client), importing the
   messages from ``pymilvus_import._generated``; stubs of protos without services are dropped.

The run is deterministic: the same protos and the pinned grpcio-tools give byte-identical files.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED = ROOT / "generated"
PROTO_FILES = ("common.proto", "schema.proto", "milvus.proto")
STUB = ROOT / "tools" / "milvus_pb2_grpc.py"
STUB_HEADER = "# Written by tools/generate.py for tests and benchmarks only (the package does not use a stub).\n"

INIT = '''"""protoc output for protos/ (see tools/generate.py). Do not edit; run ``make generate``.

Only ``pymilvus_import._wire`` imports these modules.
"""
'''

POOL = '''"""The private descriptor pool that holds this package's ``milvus.proto.*`` definitions.

Written by tools/generate.py. A private pool lets ``pymilvus_import`` and pymilvus (which registers the same full
names in protobuf's default pool) be imported into one process in either order.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
'''

SIBLING_IMPORT = re.compile(r"^import (\w+_pb2)( as \w+)?$", re.MULTILINE)
# "    None: _ClassVar[DataType]" (in the enum class) and "None: DataType" (the module-level alias).
KEYWORD_DECLARATION = re.compile(r"^ *(?:None|True|False): [\w\[\]]+\n", re.MULTILINE)


def _postprocess(text: str, *, stub: bool = False) -> str:
    text = SIBLING_IMPORT.sub(r"from . import \1\2", text)
    if stub:
        text = KEYWORD_DECLARATION.sub("", text)
    if "_descriptor_pool.Default()" in text:
        text = text.replace("_descriptor_pool.Default()", "_pool.POOL")
        text = text.replace(
            "from google.protobuf.internal import builder as _builder\n",
            "from google.protobuf.internal import builder as _builder\nfrom . import _pool\n",
        )
    return text


def generate(out: Path) -> None:
    """Write the complete generated package into ``out`` (which must exist and be empty)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *PROTO_FILES,
        ],
        check=True,
    )
    stub = out / "milvus_pb2_grpc.py"
    stub_text = stub.read_text().replace(
        "import milvus_pb2 as milvus__pb2", "from pymilvus_import._generated import milvus_pb2 as milvus__pb2"
    )
    for stale in out.glob("*_pb2_grpc.*"):
        stale.unlink()
    for path in sorted(out.iterdir()):
        path.write_text(_postprocess(path.read_text(), stub=path.suffix == ".pyi"))
    (out / "stub").mkdir()
    (out / "stub" / STUB.name).write_text(STUB_HEADER + stub_text)
    (out / "__init__.py").write_text(INIT)
    (out / "_pool.py").write_text(POOL)


def _files(folder: Path, stub: Path) -> dict[str, str]:
    files = {p.name: p.read_text() for p in sorted(folder.glob("*.py*")) if p.is_file()}
    files[f"../tools/{STUB.name}"] = stub.read_text() if stub.is_file() else ""
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated/ differs from a fresh run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        if args.check:
            want, have = _files(fresh, fresh / "stub" / STUB.name), _files(GENERATED, STUB)
            if want == have:
                print("generated/ is up to date")
                return 0
            for name in sorted(set(want) | set(have)):
                if want.get(name) != have.get(name):
                    diff = difflib.unified_diff(
                        have.get(name, "").splitlines(),
                        want.get(name, "").splitlines(),
                        f"generated/{name}",
                        f"fresh/{name}",
                        lineterm="",
                    )
                    print("\n".join(list(diff)[:40]))
            print("generated/ is stale: run 'make generate' and commit the result", file=sys.stderr)
            return 1
        if GENERATED.exists():
            shutil.rmtree(GENERATED)
        shutil.move(fresh / "stub" / STUB.name, STUB)
        (fresh / "stub").rmdir()
        shutil.copytree(fresh, GENERATED)
    print(f"wrote {', '.join(sorted(_files(GENERATED, STUB)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
