"""The pure parts of object storage (no server): the storage value, keys, the staging plan, the config reader, and
that ``import pymilvus_import`` does not load the storage library."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import import InvalidInputError, ObjectStorage
from pymilvus_import._storage import (
    DEFAULT_PREFIX,
    FILES_IN_FLIGHT,
    HEADS_IN_FLIGHT,
    PART_SIZE,
    PARTS_IN_FLIGHT,
    SETTLED_S,
    SINGLE_PUT_MAX,
    UPLOAD_SLOTS,
    KeyCheck,
    LocalFile,
    RemoteObject,
    check_unique_keys,
    key_check,
    key_verdicts,
    may_start,
    normalize_key,
    plan_uploads,
    settled,
    single_put,
    split_for_upload,
    unchanged,
    upload_slots,
    yaml_section,
)

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sEcReT-kEy-1234567890"
TOKEN = "sEsSiOn-ToKeN-abcdef"


@pytest.fixture(autouse=True)
def _no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def test_import_does_not_load_the_storage_module_or_library() -> None:
    code = (
        "import sys, pymilvus_import as pi\n"
        "assert 'obstore' not in sys.modules and 'pymilvus_import._storage' not in sys.modules\n"
        "s = pi.ObjectStorage('s3://b-1/p', access_key='a', secret_key='b')\n"
        "assert 'obstore' not in sys.modules, 'building the value must not load the library'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_url_parts_and_the_default_prefix() -> None:
    storage = ObjectStorage("s3://milvus-bucket/some/prefix/")
    assert (storage.scheme, storage.bucket, storage.prefix) == ("s3", "milvus-bucket", "some/prefix")
    assert ObjectStorage("s3://milvus-bucket").prefix == DEFAULT_PREFIX


@pytest.mark.parametrize(
    "url",
    ["milvus-bucket/x", "http://milvus-bucket/x", "s3://", "s3://UPPER/x", "s3://a/x", "s3://b:9000/x",
     "s3://user:pw@bucket/x", "s3://bucket/a//b", "s3://bucket/../x", "s3://bucket/x?y=1"],
)  # fmt: skip
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ObjectStorage(url)
    assert "pw" not in str(info.value)


def test_credentials_come_from_the_environment_and_need_both_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:9000")
    storage = ObjectStorage("s3://milvus-bucket/p")
    assert (storage.access_key, storage.secret_key, storage.session_token) == ("AKIAEXAMPLE1", SECRET, TOKEN)
    assert (storage.region, storage.endpoint) == ("eu-west-3", "http://minio:9000")
    assert ObjectStorage("s3://milvus-bucket/p", endpoint="https://s3.example.com").endpoint == "https://s3.example.com"
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(InvalidInputError, match="secret"):
        ObjectStorage("s3://milvus-bucket/p")


def test_a_bad_endpoint_is_refused_with_its_password_masked() -> None:
    with pytest.raises(InvalidInputError) as info:
        ObjectStorage("s3://milvus-bucket/p", endpoint="ftp://u:hunter2@host")
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value.value)


def test_secrets_never_show_and_the_value_survives_pickle_and_copy() -> None:
    storage = ObjectStorage(
        "s3://milvus-bucket/p", access_key="AKIAEXAMPLE1", secret_key=SECRET, session_token=TOKEN, region="r"
    )
    for text in (repr(storage), str(storage), repr([storage]), f"{storage}"):
        assert SECRET not in text and TOKEN not in text and "AKIAEXAMPLE1" not in text
    for clone in (pickle.loads(pickle.dumps(storage)), copy.deepcopy(storage)):
        assert clone == storage and clone.secret_key == SECRET
    with pytest.raises(AttributeError):
        storage.bucket = "other"  # type: ignore[misc]


# -- keys --------------------------------------------------------------------------------------------------------

key_text = st.text(alphabet=string.ascii_letters + string.digits + "-_./ +é", min_size=1, max_size=40).filter(
    lambda k: not k.startswith("/") and "://" not in k
)


@given(key=key_text)
def test_bucket_forms_of_a_key_normalise_to_the_key(key: str) -> None:
    storage = ObjectStorage("s3://milvus-bucket/p")
    assert normalize_key(storage, f"s3://milvus-bucket/{key}") == key
    assert normalize_key(storage, f"milvus-bucket/{key}") == key
    if not key.startswith("milvus-bucket/"):
        assert normalize_key(storage, key) == key


@given(key=key_text, bucket=st.from_regex(r"[a-z0-9][a-z0-9\-]{1,20}[a-z0-9]", fullmatch=True))
def test_another_bucket_is_refused(key: str, bucket: str) -> None:
    storage = ObjectStorage("s3://milvus-bucket/p")
    if bucket == "milvus-bucket":
        return
    with pytest.raises(InvalidInputError, match=bucket):
        normalize_key(storage, f"s3://{bucket}/{key}")
    assert normalize_key(storage, f"{bucket}/{key}") == f"{bucket}/{key}"  # just a key with a folder


def test_the_plan_skips_only_same_size_and_digest() -> None:
    a = LocalFile("/d/a.json", 10, "aa")
    b = LocalFile("/d/b.json", 10, "bb")
    c = LocalFile("/d/c.json", 10, "cc")
    remote = {
        "p/aa/a.json": RemoteObject(10, "aa"),  # same: skip
        "p/bb/b.json": RemoteObject(11, "bb"),  # other size: upload
        "p/cc/c.json": RemoteObject(10, None),  # no digest: upload
    }
    keys, upload, skip = plan_uploads("p", [a, b, c], remote)
    assert keys == {"/d/a.json": "p/aa/a.json", "/d/b.json": "p/bb/b.json", "/d/c.json": "p/cc/c.json"}
    assert upload == [b, c] and skip == [a]


def test_the_same_content_under_the_same_name_is_uploaded_once_but_refused_as_two_imports() -> None:
    a, b = LocalFile("/x/rows.json", 3, "dd"), LocalFile("/y/rows.json", 3, "dd")
    keys, upload, _ = plan_uploads("p", [a, b], {})
    assert upload == [a] and keys["/x/rows.json"] == keys["/y/rows.json"]
    with pytest.raises(InvalidInputError, match="same object"):
        check_unique_keys([["/x/rows.json"], ["/y/rows.json"]], keys)


@given(
    st.integers(1, 2**40),
    st.integers(0, 2**62),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from(["same", "other", None]),
)
def test_a_file_is_unchanged_only_with_its_size_mtime_and_the_digest_of_the_bytes_sent(
    size: int, mtime: int, size_delta: int, mtime_delta: int, sent: str | None
) -> None:
    planned = LocalFile("/d/a.json", size, "d" * 64, mtime)
    sent_digest = {"same": planned.digest, "other": "e" * 64, None: None}[sent]
    verdict = unchanged(planned, size + size_delta, mtime + mtime_delta, sent_digest)
    assert verdict == (size_delta == 0 and mtime_delta == 0 and sent != "other")
    # Without a known mtime, size and the digest sent still decide.
    unknown = LocalFile("/d/a.json", size, "d" * 64)
    assert unchanged(unknown, size + size_delta, mtime, sent_digest) == (size_delta == 0 and sent != "other")


@given(st.integers(1, 2**40), st.integers(0, 2**62), st.integers(-2, 2), st.sampled_from(["same", None]))
def test_a_moved_status_change_time_is_a_change_even_with_the_same_size_and_mtime(
    size: int, ctime: int, ctime_delta: int, sent: str | None
) -> None:
    planned = LocalFile("/d/a.json", size, "d" * 64, 5, ctime, settled=sent is None)
    sent_digest = planned.digest if sent == "same" else None
    assert unchanged(planned, size, 5, sent_digest, ctime + ctime_delta) == (ctime_delta == 0)
    assert unchanged(planned, size, 5, sent_digest) is True  # no ctime after: size and mtime decide


@given(st.integers(0, 2**62), st.integers(0, 2**62), st.integers(0, 10**10))
def test_a_file_is_settled_only_when_both_its_times_are_old_enough(mtime: int, ctime: int, age: int) -> None:
    now = max(mtime, ctime) + age
    assert settled(mtime, ctime, now) == (age >= SETTLED_S * 1_000_000_000)
    assert not settled(now, ctime, now) and not settled(mtime, now, now)  # changed just now: not settled


def test_split_for_upload_keeps_keys_and_stages_local_files() -> None:
    storage = ObjectStorage("s3://milvus-bucket/p")
    groups = [["/local/a.json"], ["s3://milvus-bucket/k/b.json"], ["/local/id.npy", "milvus-bucket/k/vec.npy"]]
    local, keys = split_for_upload(storage, groups, upload=True, is_local=lambda p: p.startswith("/local/"))
    assert local == ["/local/a.json", "/local/id.npy"]
    assert keys == {"s3://milvus-bucket/k/b.json": "k/b.json", "milvus-bucket/k/vec.npy": "k/vec.npy"}
    local, keys = split_for_upload(storage, groups, upload=False, is_local=lambda p: True)
    assert local == [] and keys["/local/a.json"] == "/local/a.json"


def test_verdicts_name_missing_keys_and_local_files_and_ignore_unverified() -> None:
    storage = ObjectStorage("s3://milvus-bucket/p")
    key_verdicts(storage, [KeyCheck("a", "present"), KeyCheck("b", "unverified", "403")], is_local_file=bool)
    checks = [KeyCheck("a", "present"), KeyCheck("/home/u/x.json", "missing"), KeyCheck("k/y.json", "missing")]
    with pytest.raises(pi.ObjectNotFoundError) as info:
        key_verdicts(storage, checks, is_local_file=lambda k: k.startswith("/home/"))
    error = info.value
    assert isinstance(error, pi.PreflightError) and isinstance(error, InvalidInputError)
    assert error.keys == ("/home/u/x.json", "k/y.json") and error.local_files == ("/home/u/x.json",)
    assert "milvus-bucket" in str(error) and "file on this machine" in str(error)
    assert pickle.loads(pickle.dumps(error)).keys == error.keys


@given(st.lists(st.tuples(st.sampled_from([None, 0, 1, 7, 2**40]), st.booleans()), min_size=1, max_size=12))
def test_a_key_is_refused_exactly_when_its_object_is_missing_or_empty(heads: list[tuple[int | None, bool]]) -> None:
    # Milvus 2.3.5 fails a job for a missing key and for a 0-byte object (tests/test_storage_milvus.py): the
    # verdict refuses both, names every such key, and passes any object with content.
    storage = ObjectStorage("s3://milvus-bucket/p")
    checks = [key_check(f"k/{i}.json", size) for i, (size, _) in enumerate(heads)]
    missing = tuple(c.key for c, (size, _) in zip(checks, heads, strict=True) if size is None)
    empty = tuple(c.key for c, (size, _) in zip(checks, heads, strict=True) if size == 0)
    if not missing and not empty:
        key_verdicts(storage, checks, is_local_file=lambda k: False)
        assert {c.outcome for c in checks} == {"present"}
        return
    with pytest.raises(pi.PreflightError) as info:
        key_verdicts(storage, checks, is_local_file=lambda k: False)
    error = info.value
    if missing:
        assert isinstance(error, pi.ObjectNotFoundError) and error.keys == missing
    else:
        assert isinstance(error, pi.EmptyObjectError) and error.keys == empty and error.value == empty[0]
        assert "size is zero" in str(error)
    assert error.bucket == "milvus-bucket" and "milvus-bucket" in str(error)
    assert all(repr(k) in str(error) for k in missing[:5] + empty[:5])
    assert pickle.loads(pickle.dumps(error)).keys == error.keys


def test_storage_errors_show_the_staged_keys_and_are_keyboard_interrupts_when_interrupted() -> None:
    error = pi.StagingInterruptedError("stopped", bucket="b", staged_keys=["p/1/a.json"])
    assert isinstance(error, KeyboardInterrupt) and isinstance(error, pi.StorageError)
    assert "p/1/a.json" in str(error) and pickle.loads(pickle.dumps(error)).staged_keys == ("p/1/a.json",)


def test_a_response_with_staged_keys_keeps_the_go_shape_and_pickles() -> None:
    plain = pi.BulkImportResponse(0, "", pi.BulkImportData("7", ("7", "8")))
    assert plain.to_dict() == {"status": 0, "message": "", "data": {"jobId": "7", "jobIds": ["7", "8"]}}
    assert plain.files == () and plain.staged_keys == ()
    files = (("p/aa/rows.json",), ("p/bb/id.npy", "k/vec.npy"))
    staged = pi.BulkImportResponse(0, "", pi.BulkImportData("7", ("7", "8"), files, ("p/aa/rows.json", "p/bb/id.npy")))
    assert staged.to_dict()["data"] == {
        "jobId": "7",
        "jobIds": ["7", "8"],
        "files": [["p/aa/rows.json"], ["p/bb/id.npy", "k/vec.npy"]],
        "stagedKeys": ["p/aa/rows.json", "p/bb/id.npy"],
    }
    for value in (plain, staged):
        assert pickle.loads(pickle.dumps(value)) == value and hash(copy.deepcopy(value)) == hash(value)
        assert dataclasses.asdict(pickle.loads(pickle.dumps(value))) == dataclasses.asdict(value)
    assert dataclasses.asdict(staged)["data"]["files"] == files


# -- milvus.yaml ---------------------------------------------------------------------------------------------------

MILVUS_YAML = """\
etcd:
  endpoints: localhost:2379
minio:
  address: minio.example # Address of MinIO/S3
  port: 9000 # Port of MinIO/S3
  accessKeyID: "AKIAEXAMPLE1"
  secretAccessKey: 'with # hash'
  useSSL: true
  ssl:
    tlsCACert: /path/to/ca
  bucketName: a-bucket # Bucket name in MinIO/S3
  rootPath: files
  useIAM: false
  cloudProvider: aws
  region: ""
  useVirtualHost: false
mq:
  type: default
"""


def test_the_minio_section_is_read_with_comments_quotes_and_nesting() -> None:
    section = yaml_section(MILVUS_YAML, "minio")
    assert section["address"] == "minio.example" and section["port"] == "9000"
    assert section["accessKeyID"] == "AKIAEXAMPLE1" and section["secretAccessKey"] == "with # hash"
    assert section["region"] == "" and "tlsCACert" not in section and "type" not in section


def test_from_milvus_config(tmp_path: Path) -> None:
    path = tmp_path / "milvus.yaml"
    path.write_text(MILVUS_YAML)
    storage = ObjectStorage.from_milvus_config(path)
    assert (storage.bucket, storage.prefix, storage.endpoint) == (
        "a-bucket",
        DEFAULT_PREFIX,
        "https://minio.example:9000",
    )
    assert (storage.access_key, storage.secret_key, storage.region) == ("AKIAEXAMPLE1", "with # hash", None)
    path.write_text(MILVUS_YAML.replace("useIAM: false", "useIAM: true"))
    assert ObjectStorage.from_milvus_config(path).access_key is None
    path.write_text(MILVUS_YAML.replace("cloudProvider: aws", "cloudProvider: azure"))
    with pytest.raises(InvalidInputError, match=r"az://a-bucket/milvus-import") as azure:
        ObjectStorage.from_milvus_config(path)
    assert "with # hash" not in str(azure.value)
    path.write_text("minio:\n  address: x\n")
    with pytest.raises(InvalidInputError, match="bucketName"):
        ObjectStorage.from_milvus_config(path)
    with pytest.raises(InvalidInputError, match="cannot read"):
        ObjectStorage.from_milvus_config(tmp_path / "nope.yaml")


def test_upload_without_storage_is_refused_before_any_rpc() -> None:
    option = pi.new_bulk_import_option("http://127.0.0.1:1", "c", [["/d/a.json"]])
    with pytest.raises(InvalidInputError, match="storage"):
        pi.ImportClient("http://127.0.0.1:1").bulk_import(option, upload=True)
    with pytest.raises(InvalidInputError, match="ObjectStorage"):
        pi.ImportClient("http://127.0.0.1:1", storage="s3://milvus-bucket/p")  # type: ignore[arg-type]


def test_stage_files_refuses_bad_arguments_before_touching_anything(tmp_path: Path) -> None:
    storage = ObjectStorage("s3://milvus-bucket/p", endpoint="http://127.0.0.1:1", access_key="a", secret_key="b")
    path = tmp_path / "a.json"
    path.write_text("x")

    async def callback(progress: object) -> None:
        return None

    with pytest.raises(InvalidInputError, match="plain function"):
        pi.stage_files(storage, [[str(path)]], on_progress=callback)
    with pytest.raises(InvalidInputError, match="list of file groups"):
        pi.stage_files(storage, str(path))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="wrap it"):
        pi.stage_files(storage, [str(path)])
    with pytest.raises(InvalidInputError, match="ObjectStorage"):
        pi.stage_files("s3://milvus-bucket/p", [[str(path)]])  # type: ignore[arg-type]


# -- one PUT or a multipart upload, and the memory the uploads in flight hold -------------------------------------


@given(scheme=st.sampled_from(["s3", "gs", "az"]), size=st.integers(1, 6 * 1024**3))
def test_a_file_goes_in_one_put_only_within_the_memory_of_one_multipart_upload(scheme: str, size: int) -> None:
    one = single_put(scheme, size)
    assert one == (size <= SINGLE_PUT_MAX)  # the memory bound decides: under every service's own PUT limit
    assert SINGLE_PUT_MAX <= PART_SIZE * PARTS_IN_FLIGHT and SINGLE_PUT_MAX < 256 * 1024 * 1024  # old Azure limit
    slots = upload_slots(scheme, size)
    # The slots cover the bytes held: the whole file for one PUT, PARTS_IN_FLIGHT parts for a multipart upload.
    assert slots * PART_SIZE >= (size if one else PART_SIZE * PARTS_IN_FLIGHT)
    assert 1 <= slots <= PARTS_IN_FLIGHT and (one or slots == PARTS_IN_FLIGHT)


@given(
    sizes=st.lists(st.integers(1, 64 * 1024 * 1024), min_size=1, max_size=60),
    order=st.randoms(use_true_random=False),
)
def test_the_uploads_in_flight_stay_within_the_memory_budget_and_all_start(sizes: list[int], order: Any) -> None:
    # upload_files' loop: files start in order while may_start says so; uploads end in any order.
    queue, in_flight, free, started = list(sizes), [], UPLOAD_SLOTS, 0
    while queue or in_flight:
        while queue and may_start(slots := upload_slots("s3", queue[0]), free, len(in_flight)):
            queue.pop(0)
            in_flight.append(slots)
            free -= slots
            started += 1
            assert len(in_flight) <= HEADS_IN_FLIGHT
            assert free >= 0  # the bytes in flight never exceed UPLOAD_SLOTS * PART_SIZE
        assert in_flight  # never stuck: something is going, or everything is done
        free += in_flight.pop(order.randrange(len(in_flight)))
    assert started == len(sizes) and free == UPLOAD_SLOTS
    # 16 MiB files (one PUT, 2 slots each) go 16 at once; multipart files FILES_IN_FLIGHT at once, as before.
    assert UPLOAD_SLOTS // upload_slots("s3", 16 * 1024 * 1024) == HEADS_IN_FLIGHT
    assert UPLOAD_SLOTS // upload_slots("s3", 17 * 1024 * 1024) == FILES_IN_FLIGHT
