"""Which opener the file checks use with a storage (pure; no server, no bucket): the option's paths become keys,
and those keys are read from the bucket, never from this disk. The reads themselves are tested on a real S3 server
in tests/test_filecheck_storage_milvus.py."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import import ObjectStorage
from pymilvus_import._filecheck import access_for
from pymilvus_import._files.source import BytesSource, LocalFile, SourceUnreadable
from pymilvus_import._storage import StorageObject, key_groups

STORAGE = ObjectStorage("s3://milvus-bucket/p", endpoint="http://127.0.0.1:1", access_key="AK", secret_key="SK")

key_text = st.text(alphabet=string.ascii_letters + string.digits + "-_./ +é", min_size=1, max_size=40).filter(
    lambda k: not k.startswith("/") and not k.startswith("milvus-bucket/") and "://" not in k
)


@given(keys=st.lists(key_text, min_size=1, max_size=5, unique=True))
def test_key_groups_are_the_keys_milvus_reads_in_the_same_shape(keys: list[str]) -> None:
    forms = [
        f"s3://milvus-bucket/{k}" if i % 3 == 0 else f"milvus-bucket/{k}" if i % 3 == 1 else k
        for i, k in enumerate(keys)
    ]
    assert key_groups(STORAGE, [forms]) == (tuple(keys),)


def test_key_groups_refuse_another_bucket_and_two_forms_of_one_key() -> None:
    with pytest.raises(pi.InvalidInputError, match="other-bucket"):
        key_groups(STORAGE, [["s3://other-bucket/a.json"]])
    with pytest.raises(pi.InvalidInputError, match="same object"):
        key_groups(STORAGE, [["a.json"], ["s3://milvus-bucket/a.json"]])


def test_with_a_storage_paths_are_keys_and_local_files_are_not_read(tmp_path: Path) -> None:
    local = tmp_path / "rows.json"
    local.write_text("[]")
    access = access_for("127.0.0.1:19530", None, None, STORAGE)
    assert access.read_local is False and access.storage is STORAGE
    option = pi.new_bulk_import_option("", "c", [[str(local)]])
    assert access.can_read_any(option)
    # The local path is a key (nothing listens on the endpoint): no verdict, not this disk's file.
    with pytest.raises(SourceUnreadable):
        access.opener()(str(local))
    # Without a storage the same local path is read (the server is on this machine).
    plain = access_for("127.0.0.1:19530", None, None)
    assert isinstance(plain.opener()(str(local)), LocalFile)
    assert plain.with_storage(STORAGE).storage is STORAGE and plain.with_storage(None) is plain


def test_sources_given_by_the_caller_come_before_the_bucket() -> None:
    given_source = BytesSource("k.json", b"[]")
    access = access_for(None, None, {"k.json": given_source}, STORAGE)
    assert access.opener()("k.json") is given_source


def test_a_storage_object_reads_nothing_past_its_end_and_masks_secrets() -> None:
    obj = StorageObject(STORAGE, "a/b.parquet", 10)
    assert obj.size() == 10 and obj.read(10, 5) == b"" and obj.read(3, 0) == b""
    assert "SK" not in repr(obj)
    with pytest.raises(SourceUnreadable) as unreadable:
        obj.read(0, 4)  # nothing listens on the endpoint
    assert "a/b.parquet" in str(unreadable.value) and "SK" not in str(unreadable.value)
