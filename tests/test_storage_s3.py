"""Staging and key verification against two real S3 servers, no Milvus needed: SeaweedFS (the one Milvus runs on
in the other tests; it checks SigV4) and moto's server with IAM authentication (tests/cloud_servers.py: SigV4 checked
against IAM users, IAM policies enforced, multipart parts below 5 MiB refused). Each test runs on both (``[seaweedfs]``
needs the machine lock: SeaweedFS has fixed ports; ``[moto]`` runs on a free port); the slow ones (a killed upload,
Ctrl-C, 1 GiB) on SeaweedFS only.

What is in the bucket is always read back with another client (boto3), not with the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cloud_servers import MotoS3
from s3_server import s3_client, storage_for

from pymilvus_import import (
    EmptyObjectError,
    InvalidInputError,
    ObjectNotFoundError,
    ObjectStorage,
    StagingProgress,
    StorageError,
    _storage,
    stage_files,
    verify_keys,
)
from pymilvus_import._storage import DIGEST_METADATA, PART_SIZE, SINGLE_PUT_MAX
from tools.seaweedfs_launcher import SeaweedFS

ROOT = Path(__file__).resolve().parents[1]
S3Server = SeaweedFS | MotoS3
#: The slow tests run on SeaweedFS only (the suite's time budget).
ON_SEAWEEDFS_ONLY = pytest.mark.parametrize("s3", ["seaweedfs"], indirect=True)


@pytest.fixture(params=["seaweedfs", "moto"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    """The S3 server of this test run: the session's SeaweedFS, or the session's moto server."""
    if request.param == "seaweedfs":
        server: S3Server = request.getfixturevalue("s3_harness").get()
    else:
        server = request.getfixturevalue("moto_s3")
    return server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    name = f"stage-{uuid.uuid4().hex[:10]}"
    s3_client(s3).create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage(s3: S3Server, bucket: str) -> ObjectStorage:
    return storage_for(s3, bucket, "staged")


def keys_in(s3: S3Server, bucket: str) -> list[str]:
    reply = s3_client(s3).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in reply.get("Contents", []))


def pending_uploads(s3: S3Server, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client(s3).list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_groups_are_staged_under_content_digests_with_their_file_names(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    rows = write(tmp_path / "rows.json", b'{"rows": [{"id": 1, "vec": [0.0, 1.0]}]}')
    ids = write(tmp_path / "g" / "id.npy", b"ids-content")
    vec = write(tmp_path / "g" / "vec.npy", b"vec-content" * 1000)

    staged = stage_files(storage, [[rows], [ids, vec]])

    digest = hashlib.sha256(b"ids-content").hexdigest()
    assert staged.groups[1][0] == f"staged/{digest}/id.npy"
    assert [len(g) for g in staged.groups] == [1, 2]
    assert sorted(staged.uploaded) == sorted(staged.keys) and staged.skipped == ()
    assert keys_in(s3, bucket) == sorted(staged.keys)
    client = s3_client(s3)
    for local, key in zip([rows, ids, vec], staged.keys, strict=True):
        body = client.get_object(Bucket=bucket, Key=key)
        content = Path(local).read_bytes()
        assert body["Body"].read() == content
        assert body["Metadata"][DIGEST_METADATA] == hashlib.sha256(content).hexdigest()


def test_restaging_uploads_nothing_and_a_changed_file_gets_a_new_key(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "rows.json", b"first version")
    first = stage_files(storage, [[path]])
    again = stage_files(storage, [[path]])
    assert again.uploaded == () and again.skipped == first.keys and again.groups == first.groups

    write(tmp_path / "rows.json", b"second version")
    changed = stage_files(storage, [[path]])
    assert changed.uploaded == changed.keys and changed.keys != first.keys
    assert keys_in(s3, bucket) == sorted(first.keys + changed.keys)


def test_an_object_at_the_key_without_the_same_digest_is_replaced(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "rows.json", b"the real content")
    key = stage_files(storage, [[path]]).keys[0]
    # Same size, other bytes, no digest metadata: e.g. written by another tool.
    s3_client(s3).put_object(Bucket=bucket, Key=key, Body=b"the fake content")
    restaged = stage_files(storage, [[path]])
    assert restaged.uploaded == (key,)
    assert s3_client(s3).get_object(Bucket=bucket, Key=key)["Body"].read() == b"the real content"


def test_an_empty_or_missing_file_is_refused_before_anything_is_uploaded(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.json", b"content")
    empty = write(tmp_path / "empty.json", b"")
    with pytest.raises(InvalidInputError, match="empty") as info:
        stage_files(storage, [[good], [empty]])
    assert info.value.value == empty
    with pytest.raises(InvalidInputError, match="No such file"):
        stage_files(storage, [[good], [str(tmp_path / "nope.json")]])
    assert keys_in(s3, bucket) == []


def test_multipart_upload_reports_bytes_and_keeps_the_digest(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    data = os.urandom(3 * 8 * 1024 * 1024 + 12345)  # four parts of PART_SIZE
    path = write(tmp_path / "big.parquet", data)
    seen: list[StagingProgress] = []
    staged = stage_files(storage, [[path]], on_progress=seen.append)
    head = s3_client(s3).head_object(Bucket=bucket, Key=staged.keys[0])
    assert head["ContentLength"] == len(data)
    assert "-" in head["ETag"]  # a multipart ETag: not a digest of the content
    assert head["Metadata"][DIGEST_METADATA] == hashlib.sha256(data).hexdigest()
    done = [p.bytes_done for p in seen]
    assert done == sorted(done) and done[-1] == len(data) == seen[-1].bytes_total
    assert seen[-1].files_done == seen[-1].files_total == 1


def test_many_files_at_once(s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path) -> None:
    paths = [write(tmp_path / f"f{i:02d}.json", os.urandom(1000 + i)) for i in range(20)]
    staged = stage_files(storage, [[p] for p in paths])
    assert len(staged.uploaded) == 20 and keys_in(s3, bucket) == sorted(staged.keys)
    assert [k.rsplit("/", 1)[1] for k in staged.keys] == [Path(p).name for p in paths]


@pytest.mark.parametrize("size", [SINGLE_PUT_MAX, SINGLE_PUT_MAX + 1])
def test_a_file_up_to_single_put_max_goes_in_one_put_a_larger_one_in_parts(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    seen: list[StagingProgress] = []
    staged = stage_files(storage, [[write(tmp_path / "f.parquet", data)]], on_progress=seen.append)
    head = s3_client(s3).head_object(Bucket=bucket, Key=staged.keys[0])
    if size <= SINGLE_PUT_MAX:  # one PUT: the ETag is the MD5 of the content
        assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    else:  # a multipart ETag: "<md5 of the part md5s>-<parts>"
        assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == size and head["Metadata"][DIGEST_METADATA] == hashlib.sha256(data).hexdigest()
    got = s3_client(s3).get_object(Bucket=bucket, Key=staged.keys[0])["Body"].read()
    assert got == data and pending_uploads(s3, bucket) == []
    assert seen[-1].bytes_done == size and seen[-1].files_done == 1


def test_a_failed_single_put_leaves_no_object(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "mid.parquet", os.urandom(SINGLE_PUT_MAX))

    def fail(progress: StagingProgress) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        stage_files(storage, [[path]], on_progress=fail)
    assert keys_in(s3, bucket) == [] and pending_uploads(s3, bucket) == []


@pytest.mark.parametrize("size", [3 * PART_SIZE, SINGLE_PUT_MAX])  # three parts; one PUT
def test_a_file_changed_during_its_upload_leaves_no_object_under_the_stale_key(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path, size: int
) -> None:
    before = write(tmp_path / "a.json", b"already staged")
    earlier = stage_files(storage, [[before]]).keys[0]
    data = os.urandom(size)  # the file is rewritten after the first bytes are read
    path = write(tmp_path / "big.parquet", data)

    def rewrite_once(progress: StagingProgress) -> None:
        if not getattr(rewrite_once, "done", False):
            rewrite_once.done = True  # type: ignore[attr-defined]
            with open(path, "r+b") as f:  # same size, other bytes in the last part
                f.seek(len(data) - 10)
                f.write(b"0123456789")

    with pytest.raises(StorageError) as info:
        stage_files(storage, [[before], [path]], on_progress=rewrite_once)
    assert path in str(info.value) and "changed" in str(info.value)
    stale = f"staged/{hashlib.sha256(data).hexdigest()}/big.parquet"
    assert info.value.key == stale and info.value.staged_keys == (earlier,)
    assert keys_in(s3, bucket) == [earlier] and pending_uploads(s3, bucket) == []


def test_a_settled_file_changed_during_its_upload_is_refused_by_its_stat(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file last changed long before staging is not hashed again as it is sent: the stat after the upload (size,
    # mtime, ctime) is what sees a write. Its times are set back, and "long before" shortened, to get one here.
    data = os.urandom(3 * 8 * 1024 * 1024)
    path = write(tmp_path / "old.parquet", data)
    os.utime(path, ns=(time.time_ns() - 3600 * 10**9,) * 2)
    monkeypatch.setattr(_storage, "SETTLED_S", 0.0)

    def rewrite_once(progress: StagingProgress) -> None:
        if not getattr(rewrite_once, "done", False):
            rewrite_once.done = True  # type: ignore[attr-defined]
            with open(path, "r+b") as f:  # same size, other bytes in the last part
                f.seek(len(data) - 10)
                f.write(b"0123456789")

    with pytest.raises(StorageError, match="changed while it was staged") as info:
        stage_files(storage, [[path]], on_progress=rewrite_once)
    assert info.value.key == f"staged/{hashlib.sha256(data).hexdigest()}/old.parquet"
    assert keys_in(s3, bucket) == [] and pending_uploads(s3, bucket) == []
    # Unchanged, it stages with the digest of its content in the key and in the metadata.
    os.utime(path, ns=(time.time_ns() - 3600 * 10**9,) * 2)
    staged = stage_files(storage, [[path]])
    content = Path(path).read_bytes()
    head = s3_client(s3).head_object(Bucket=bucket, Key=staged.keys[0])
    assert staged.keys == (f"staged/{hashlib.sha256(content).hexdigest()}/old.parquet",)
    assert head["Metadata"][DIGEST_METADATA] == hashlib.sha256(content).hexdigest()
    assert s3_client(s3).get_object(Bucket=bucket, Key=staged.keys[0])["Body"].read() == content


def test_a_file_changed_after_its_bytes_were_read_is_refused(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "rows.json", b"version one")

    def append_at_the_end(progress: StagingProgress) -> None:
        if progress.bytes_done == progress.bytes_total and progress.files_done == 0:
            with open(path, "ab") as f:
                f.write(b" and more")

    with pytest.raises(StorageError, match="changed while it was staged") as info:
        stage_files(storage, [[path]], on_progress=append_at_the_end)
    assert info.value.staged_keys == () and keys_in(s3, bucket) == []
    # Once it is no longer written, it stages under the digest of its new content.
    staged = stage_files(storage, [[path]])
    assert staged.keys == (f"staged/{hashlib.sha256(b'version one and more').hexdigest()}/rows.json",)


# -- verification ----------------------------------------------------------------------------------------------


def test_verify_finds_every_missing_key_and_names_the_bucket(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    present = stage_files(storage, [[write(tmp_path / "a.json", b"a")]]).keys[0]
    checks = verify_keys(storage, [present])
    assert [(c.key, c.outcome) for c in checks] == [(present, "present")]
    with pytest.raises(ObjectNotFoundError) as info:
        verify_keys(storage, [present, "staged/nope.json", "import/also-missing.json"])
    assert info.value.keys == ("staged/nope.json", "import/also-missing.json")
    assert info.value.bucket == bucket and bucket in str(info.value) and "staged/nope.json" in str(info.value)
    assert info.value.local_files == ()


def test_verify_refuses_a_key_whose_object_is_empty(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    full = stage_files(storage, [[write(tmp_path / "a.json", b"a")]]).keys[0]
    s3_client(s3).put_object(Bucket=bucket, Key="import/empty.json", Body=b"")
    with pytest.raises(EmptyObjectError) as info:
        verify_keys(storage, [full, "import/empty.json"])
    assert info.value.keys == ("import/empty.json",) and info.value.bucket == bucket
    assert "import/empty.json" in str(info.value) and bucket in str(info.value)
    # Missing keys come first, and the message names the empty ones too.
    with pytest.raises(ObjectNotFoundError, match=r"import/empty\.json") as missing:
        verify_keys(storage, ["import/nope.json", "import/empty.json"])
    assert missing.value.keys == ("import/nope.json",)


def test_a_local_path_given_as_a_key_is_refused_with_how_to_upload_it(storage: ObjectStorage, tmp_path: Path) -> None:
    local = write(tmp_path / "rows.json", b"local only")
    with pytest.raises(ObjectNotFoundError) as info:
        verify_keys(storage, [local])
    assert info.value.local_files == (local,)
    assert "file on this machine" in str(info.value) and "upload=True" in str(info.value)


def test_wrong_storage_credentials_give_no_verdict(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    wrong = storage_for(s3, bucket, "staged", secret_key="not-the-secret")
    checks = verify_keys(wrong, ["staged/missing.json"])
    assert [c.outcome for c in checks] == ["unverified"]
    assert "not-the-secret" not in repr(checks)


def test_staging_with_wrong_credentials_fails_without_the_secret_in_the_error(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    wrong = storage_for(s3, bucket, "staged", secret_key="s3cr3t-value-xyz")
    with pytest.raises(StorageError) as info:
        stage_files(wrong, [[write(tmp_path / "a.json", b"a")]])
    assert "s3cr3t-value-xyz" not in str(info.value) and "s3cr3t-value-xyz" not in repr(info.value.args)
    assert keys_in(s3, bucket) == []


def test_a_failed_multipart_upload_leaves_no_object_and_no_pending_upload(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "big.parquet", os.urandom(3 * PART_SIZE))

    def fail_after_the_first_part(progress: StagingProgress) -> None:
        if progress.bytes_done >= PART_SIZE:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        stage_files(storage, [[path]], on_progress=fail_after_the_first_part)
    assert keys_in(s3, bucket) == [] and pending_uploads(s3, bucket) == []


def test_a_key_the_policy_does_not_allow_to_read_gives_no_verdict(moto_s3: MotoS3, tmp_path: Path) -> None:
    # Not a bad signature: a valid key whose IAM policy denies reading (403 AccessDenied), as a real AWS account does.
    name = f"policy-{uuid.uuid4().hex[:10]}"
    moto_s3.boto3_client().create_bucket(Bucket=name)
    access, secret = moto_s3.identity(f"writer-{name}", {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})
    writer = storage_for(moto_s3, name, "staged", access_key=access, secret_key=secret)
    checks = verify_keys(writer, ["staged/missing.json"])
    assert [c.outcome for c in checks] == ["unverified"] and "PermissionDenied" in checks[0].reason
    reader_only = moto_s3.identity(f"reader-{name}", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    with pytest.raises(StorageError, match="PermissionDenied") as refused:
        stage_files(
            storage_for(moto_s3, name, "staged", access_key=reader_only[0], secret_key=reader_only[1]),
            [[write(tmp_path / "a.json", b"a")]],
        )
    assert reader_only[1] not in str(refused.value) and keys_in(moto_s3, name) == []


# -- interrupted and killed uploads, memory --------------------------------------------------------------------

STAGE_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pymilvus_import import ObjectStorage, stage_files, StagingInterruptedError
    endpoint, bucket, path = sys.argv[1:4]
    storage = ObjectStorage(f"s3://{bucket}/staged", endpoint=endpoint, access_key="minioadmin",
                            secret_key="minioadmin")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def progress(p):
        if p.bytes_done >= p.bytes_total // 2 and not getattr(progress, "said", False):
            progress.said = True
            print("HALF", flush=True)

    try:
        staged = stage_files(storage, [[path]], on_progress=progress)
    except StagingInterruptedError as exc:
        print("INTERRUPTED", json.dumps(list(exc.staged_keys)), flush=True)
        sys.exit(130)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("DONE", json.dumps({"keys": staged.keys, "rss_growth_kb": after - before}), flush=True)
    """
)


def run_stager(s3: S3Server, bucket: str, path: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", STAGE_SCRIPT, s3.endpoint, bucket, path],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def big_file(path: Path, size: int) -> str:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    return str(path)


def wait_for_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the stager ended (code {proc.wait()}) without printing {prefix}")


def test_the_bucket_lists_pending_multipart_uploads(s3: S3Server, bucket: str) -> None:
    # The assertions below read "no pending upload" from this listing: show that it does list them.
    upload = s3_client(s3).create_multipart_upload(Bucket=bucket, Key="x/pending.bin")
    assert pending_uploads(s3, bucket) == ["x/pending.bin"]
    s3_client(s3).abort_multipart_upload(Bucket=bucket, Key="x/pending.bin", UploadId=upload["UploadId"])
    assert pending_uploads(s3, bucket) == []


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_an_upload_killed_half_way_leaves_no_object(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    path = big_file(tmp_path / "big.bin", 256 * 1024 * 1024)
    proc = run_stager(s3, bucket, path)
    wait_for_line(proc, "HALF")
    proc.kill()
    proc.wait()
    assert keys_in(s3, bucket) == []


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_ctrl_c_aborts_the_upload_and_reports_the_keys_already_staged(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    path = big_file(tmp_path / "big.bin", 256 * 1024 * 1024)
    proc = run_stager(s3, bucket, path)
    wait_for_line(proc, "HALF")
    proc.send_signal(signal.SIGINT)
    line = wait_for_line(proc, "INTERRUPTED")
    assert proc.wait() == 130
    assert json.loads(line.split(" ", 1)[1]) == []
    deadline = time.monotonic() + 5
    while pending_uploads(s3, bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pending_uploads(s3, bucket) == [] and keys_in(s3, bucket) == []


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_a_1_gb_file_stages_with_bounded_memory(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    size = 1024 * 1024 * 1024
    path = big_file(tmp_path / "huge.bin", size)
    proc = run_stager(s3, bucket, path)
    result: dict[str, Any] = json.loads(wait_for_line(proc, "DONE").split(" ", 1)[1])
    assert proc.wait() == 0
    growth = result["rss_growth_kb"] * 1024
    assert growth < 200 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB staging a 1 GiB file"
    head = s3_client(s3).head_object(Bucket=bucket, Key=result["keys"][0])
    assert head["ContentLength"] == size


# -- the command line ------------------------------------------------------------------------------------------


def cli_env(s3: S3Server) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key, AWS_ENDPOINT_URL=s3.endpoint)
    env.pop("MILVUS_URI", None)
    return env


def test_cli_stage_prints_the_key_groups(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    rows = write(tmp_path / "rows.json", b"rows")
    ids, vec = write(tmp_path / "id.npy", b"ids"), write(tmp_path / "vec.npy", b"vec")
    argv = [sys.executable, "-m", "pymilvus_import", "stage", "--storage", f"s3://{bucket}/cli", "--json"]
    done = subprocess.run([*argv, rows, f"{ids},{vec}"], capture_output=True, text=True, env=cli_env(s3), cwd=ROOT)
    assert done.returncode == 0, done
    document = json.loads(done.stdout)
    groups = document["staged"]["groups"]
    assert [[k.rsplit("/", 1)[1] for k in g] for g in groups] == [["rows.json"], ["id.npy", "vec.npy"]]
    assert keys_in(s3, bucket) == sorted(k for g in groups for k in g)
    assert s3.secret_key not in done.stdout + done.stderr

    again = subprocess.run([*argv[:-1], rows], capture_output=True, text=True, env=cli_env(s3), cwd=ROOT)
    assert again.returncode == 0 and "0 uploaded, 1 already there" in again.stdout
    assert groups[0][0] in again.stdout


def test_cli_stage_refuses_an_empty_file_with_exit_2(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.json", b"")
    argv = [sys.executable, "-m", "pymilvus_import", "stage", "--storage", f"s3://{bucket}/cli", empty]
    done = subprocess.run(argv, capture_output=True, text=True, env=cli_env(s3), cwd=ROOT)
    assert done.returncode == 2 and "empty" in done.stderr
    assert keys_in(s3, bucket) == []


def ctrl_c_half_way(s3: S3Server, argv: list[str]) -> str:
    """Run ``milvus-import ARGV`` (staging a small file, then a big one), send SIGINT once the small file is in and
    the big one half-way; its stderr, after it exited with 130."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pymilvus_import", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(s3),
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if "1 of 2 files" in line and "(5" in line:  # the small file is in, the big one half-way
            break
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait() == 130, err
    return err


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_ctrl_c_in_the_cli_prints_the_keys_already_staged(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    small = write(tmp_path / "small.json", b"small file")
    big = big_file(tmp_path / "big.bin", 256 * 1024 * 1024)
    err = ctrl_c_half_way(s3, ["stage", "--storage", f"s3://{bucket}/cli", small, big])
    small_key = f"cli/{hashlib.sha256(b'small file').hexdigest()}/small.json"
    assert f"keys already staged: {small_key}" in err or f"'{small_key}'" in err, err
    assert keys_in(s3, bucket) == [small_key]


# -- staging as a step of bulk_import: cancelled or closed mid-upload ------------------------------------------------


def _half_way(total_files: int) -> tuple[Any, Any]:
    """An on_upload_progress that sets the returned event once the last file is half-way out."""
    import threading

    half = threading.Event()

    def progress(p: StagingProgress) -> None:
        if p.files_done == total_files - 1 and p.bytes_done >= p.bytes_total // 2:
            half.set()

    return progress, half


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
@pytest.mark.parametrize("how", ["task cancelled", "client closed"])
def test_an_async_bulk_import_stopped_mid_upload_aborts_it_and_names_the_keys_staged(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path, how: str
) -> None:
    import asyncio

    import pymilvus_import as pi

    data = b'{"rows": []}'
    small = write(tmp_path / "small.json", data)
    big = big_file(tmp_path / "big.json", 256 * 1024 * 1024)
    progress, half = _half_way(2)
    small_key = f"staged/{hashlib.sha256(data).hexdigest()}/small.json"

    async def main() -> BaseException:
        # No preflight: nothing is asked of Milvus (the URI is never dialled) before the uploads.
        client = pi.AsyncImportClient("http://127.0.0.1:9", preflight=False)
        option = pi.new_bulk_import_option("", "coll", [[small], [big]])
        task = asyncio.ensure_future(
            client.bulk_import(option, storage=storage, upload=True, on_upload_progress=progress)
        )
        await asyncio.to_thread(half.wait, 120)
        if how == "task cancelled":
            task.cancel()
        else:
            await client.close()
        try:
            await task
        except BaseException as error:  # what stopped it is what is looked at
            return error
        finally:
            await client.close()
        raise AssertionError("the import was not stopped")

    error = asyncio.run(main())  # the event loop was not stopped by the aborted staging
    assert isinstance(error, asyncio.CancelledError if how == "task cancelled" else pi.ClientClosedError)
    assert getattr(error, "staged_keys", ()) == (small_key,)
    # The call waited for the abort: nothing partial is left, right away.
    assert pending_uploads(s3, bucket) == [] and keys_in(s3, bucket) == [small_key]


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_closing_the_client_mid_upload_aborts_it_and_names_the_keys_staged(
    s3: S3Server, bucket: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    import threading

    import pymilvus_import as pi

    data = b'{"rows": [1]}'
    small = write(tmp_path / "small.json", data)
    big = big_file(tmp_path / "big.json", 256 * 1024 * 1024)
    progress, half = _half_way(2)
    client = pi.ImportClient("http://127.0.0.1:9", preflight=False)
    closer = threading.Thread(target=lambda: (half.wait(120), client.close()))
    closer.start()
    option = pi.new_bulk_import_option("", "coll", [[small], [big]])
    with pytest.raises(pi.StagingInterruptedError) as raised:
        client.bulk_import(option, storage=storage, upload=True, on_upload_progress=progress)
    closer.join()
    small_key = f"staged/{hashlib.sha256(data).hexdigest()}/small.json"
    assert raised.value.staged_keys == (small_key,)
    assert pending_uploads(s3, bucket) == [] and keys_in(s3, bucket) == [small_key]


@pytest.mark.slow
@ON_SEAWEEDFS_ONLY
def test_ctrl_c_in_cli_submit_upload_aborts_the_upload_and_prints_the_keys_staged(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    # submit --upload stages through bulk_import(upload=True, on_upload_progress=...): the signal closes the client,
    # which aborts the uploads in flight; no Milvus is reached (no preflight, and no Import is sent).
    small = write(tmp_path / "small.json", b"small file")
    big = big_file(tmp_path / "big.json", 256 * 1024 * 1024)
    argv = ["submit", "--uri", "http://127.0.0.1:9", "-c", "coll", "--no-preflight"]
    err = ctrl_c_half_way(s3, [*argv, "--storage", f"s3://{bucket}/cli", "--upload", small, big])
    small_key = f"cli/{hashlib.sha256(b'small file').hexdigest()}/small.json"
    assert "no import was sent" in err and small_key in err, err
    deadline = time.monotonic() + 5
    while pending_uploads(s3, bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pending_uploads(s3, bucket) == [] and keys_in(s3, bucket) == [small_key]
