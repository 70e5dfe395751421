"""Which object-store library for ``pymilvus-import[storage]``: ``python -m benchmarks._storage_libs [--quick]``.

Measures, for ``obstore``, ``boto3`` and ``minio`` side by side against a local SeaweedFS (started here; run it
under ``flock /tmp/pmi-servers.lock``): first use (import + building a client, median of fresh processes),
installed size (the library and the dependencies it brings), upload MB/s with multipart (16 MiB parts) for one
large file and for many 16 MiB files, whether it has native asyncio, and which clouds it reaches.
Prints a Markdown table and writes ``benchmarks/results-storage-libs.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.seaweedfs_launcher import ACCESS_KEY, SECRET_KEY, SeaweedFS

MIB = 1024 * 1024
PART = 16 * MIB
BUCKET = "libs-bench"
#: Distribution names each library brings beyond grpcio/protobuf (what `pip install` adds to a fresh venv).
DISTRIBUTIONS = {
    "obstore": ["obstore"],
    "boto3": ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"],
    "minio": [
        "minio",
        "argon2-cffi",
        "argon2-cffi-bindings",
        "cffi",
        "pycparser",
        "pycryptodome",
        "urllib3",
        "certifi",
    ],
}


def installed_mb(names: list[str]) -> float:
    total = 0
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total / MIB


#: First use = import + building a client (no request), in a fresh process.
FIRST_USE = {
    "obstore": "from obstore.store import S3Store; import obstore; S3Store('b', endpoint='http://127.0.0.1:1', "
    "access_key_id='a', secret_access_key='s', region='us-east-1', client_options={'allow_http': True})",
    "boto3": "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:1', aws_access_key_id='a', "
    "aws_secret_access_key='s', region_name='us-east-1')",
    "minio": "from minio import Minio; Minio('127.0.0.1:1', access_key='a', secret_key='s', secure=False)",
}


def import_ms(module: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); {FIRST_USE[module]}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(samples) * 1000


def write_file(path: Path, size: int) -> Path:
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(block)
    return path


def upload_obstore(endpoint: str, files: list[Path]) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region="us-east-1",
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: obstore.put(store, f"o/{p.name}", p, chunk_size=PART, max_concurrency=8), files))


def upload_boto3(endpoint: str, files: list[Path]) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=8)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: client.upload_file(str(p), BUCKET, f"b/{p.name}", Config=config), files))


def upload_minio(endpoint: str, files: list[Path]) -> None:
    from minio import Minio

    client = Minio(endpoint.split("//", 1)[1], access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
    # pymilvus's RemoteBulkWriter path: fput_object, one file at a time.
    for path in files:
        client.fput_object(BUCKET, f"m/{path.name}", str(path), part_size=PART)


UPLOADERS = {"obstore": upload_obstore, "boto3": upload_boto3, "minio": upload_minio}
FACTS = {
    "obstore": {"asyncio": "native (put_async, head_async, ...)", "clouds": "S3, GCS, Azure, HTTP, local"},
    "boto3": {"asyncio": "none (aiobotocore is another package)", "clouds": "S3 only"},
    "minio": {"asyncio": "none", "clouds": "S3 only"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    big, small_n, runs = (64 * MIB, 4, 3) if args.quick else (512 * MIB, 32, 7)
    results: dict[str, Any] = {"big_mib": big // MIB, "small_files": small_n, "libraries": {}}
    with tempfile.TemporaryDirectory(prefix="libs-bench-") as tmp:
        root = Path(tmp)
        big_file = [write_file(root / "big.bin", big)]
        small_files = [write_file(root / f"s{i:03d}.bin", PART) for i in range(small_n)]
        with SeaweedFS(root / "s3") as s3:
            s3.boto3_client().create_bucket(Bucket=BUCKET)
            for name, upload in UPLOADERS.items():
                row: dict[str, Any] = {
                    "first_use_ms": import_ms(name, runs),
                    "installed_mb": installed_mb(DISTRIBUTIONS[name]),
                    **FACTS[name],
                }
                for label, files in (("big", big_file), ("small", small_files)):
                    started = time.perf_counter()
                    upload(s3.endpoint, files)
                    elapsed = time.perf_counter() - started
                    row[f"{label}_mb_s"] = sum(p.stat().st_size for p in files) / MIB / elapsed
                results["libraries"][name] = row
    print(f"| library | import + client | installed | 1 x {big // MIB} MiB | {small_n} x 16 MiB | asyncio | clouds |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results["libraries"].items():
        print(
            f"| {name} | {row['first_use_ms']:.0f} ms | {row['installed_mb']:.1f} MiB | {row['big_mb_s']:.0f} MiB/s | "
            f"{row['small_mb_s']:.0f} MiB/s | {row['asyncio']} | {row['clouds']} |"
        )
    out = Path(__file__).with_name("results-storage-libs.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
