"""``make demo`` part 2 (``python -m tools.demo_s3``): the real-world path, files where Milvus reads them.

1. Starts a real S3 server (SeaweedFS, ``weed`` from the test extra) and, once it is healthy, the embedded Milvus
   2.3.5 with its storage in bucket ``demo-bucket`` there (the ports are fixed: nothing else may run them).
2. Writes a JSON file and a NumPy group on local disk, then runs ``milvus-import submit --storage ... --upload
   --wait``: the files are staged into the bucket (byte progress), their keys imported, the jobs followed to the end.
3. Counts the rows on the server (pymilvus), and shows a missing key refused before any job
   (``ObjectNotFoundError``, exit 2, the server's job list unchanged).

Both servers are stopped at the end, also on Ctrl+C. Exit 0 when all of that holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from tools.demo import DemoError, create_collection, drop_collection, row_count, say, write_json_rows, write_npy_group
from tools.milvus_launcher import LaunchError, MilvusServer
from tools.seaweedfs_launcher import SeaweedFS

BUCKET = "demo-bucket"


def cli(*argv: str, env: dict[str, str]) -> int:
    say(f"$ milvus-import {' '.join(argv)}")
    return subprocess.run([sys.executable, "-m", "pymilvus_import", *argv], env=env, check=False).returncode


def main() -> int:
    from pymilvus_import import list_import_jobs

    with tempfile.TemporaryDirectory(prefix="milvus-import-demo-s3-") as tmp:
        root = Path(tmp)
        s3 = SeaweedFS(root / "s3")
        milvus: MilvusServer | None = None
        try:
            say("Starting a real S3 server (SeaweedFS) ...")
            s3.start()
            say(f"  S3 at {s3.endpoint} (healthy in {s3.startup_s:.1f} s); starting Milvus 2.3.5 on it ...")
            milvus = MilvusServer(root / "milvus", s3.milvus_args(BUCKET))
            milvus.start(timeout=120)
            say(f"  Milvus at {milvus.uri}, storage s3://{BUCKET} (ready in {milvus.startup_s:.1f} s)")
            collection = f"demo_{uuid.uuid4().hex[:8]}"
            create_collection(milvus.uri, collection)
            data = root / "local-files"
            groups = [write_json_rows(data / "rows.json", 1000), ",".join(write_npy_group(data / "npy", 500, 1000))]
            env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
            common = ["--uri", milvus.uri, "-c", collection, "--storage", f"s3://{BUCKET}/staged"]
            common += ["--storage-endpoint", s3.endpoint]
            if cli("submit", *common, "--upload", "--wait", *groups, env=env) != 0:
                raise DemoError("the import did not complete")
            rows = row_count(milvus.uri, collection)
            say(f"The server counts {rows} rows in {collection} (expected 1500).")
            if rows != 1500:
                raise DemoError(f"expected 1500 rows, the server counts {rows}")
            before = len(list_import_jobs(milvus.uri, collection))
            say("A key that is not in the bucket is refused before any job is created:")
            code = cli("submit", *common, "staged/not-uploaded.json", env=env)
            after = len(list_import_jobs(milvus.uri, collection))
            if code != 2 or after != before:
                raise DemoError(f"expected exit 2 and no new job, got exit {code} and {after - before} new job(s)")
            say(f"  exit {code}; import jobs on the server: {before} before, {after} after.")
            drop_collection(milvus.uri, collection)
        except (DemoError, LaunchError) as error:
            say(f"demo failed: {error}")
            return 1
        finally:
            if milvus is not None:
                milvus.stop(grace=3.0)
                milvus.remove_binaries()
            s3.stop()
    say("Demo (S3) done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
