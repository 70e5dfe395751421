"""Staging, key verification and the file checks' ranged reads on ``az://``, against Azurite (Microsoft's Azure
Storage emulator, from npm; tests/cloud_servers.py), started once per session on a free port. No Milvus needed.

``ObjectStorage("az://CONTAINER/PREFIX", access_key=ACCOUNT, secret_key=ACCOUNT_KEY, endpoint=BLOB_URL)``: Azurite
checks the SharedKey signature of every request (a wrong account key answers 403). What is in the container is always
read back with another client (the Azure SDK, ``azure-storage-blob``), not with the code under test.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from cloud_servers import Azurite

import pymilvus_import as pi
from pymilvus_import import (
    EmptyObjectError,
    InvalidInputError,
    ObjectNotFoundError,
    ObjectStorage,
    StagingProgress,
    StorageError,
    stage_files,
    verify_keys,
)
from pymilvus_import._storage import AZURE_DIGEST_METADATA, PART_SIZE, SINGLE_PUT_MAX, normalize_key, open_key


@pytest.fixture
def container(azurite: Azurite) -> Any:
    """A fresh container: the Azure SDK's ContainerClient for it."""
    return azurite.blob_service().create_container(f"stage-{uuid.uuid4().hex[:10]}")


def storage_of(azurite: Azurite, container: Any, **overrides: Any) -> ObjectStorage:
    settings: dict[str, Any] = {
        "endpoint": azurite.endpoint,
        "access_key": azurite.account,
        "secret_key": azurite.account_key,
    }
    settings.update(overrides)
    return ObjectStorage(f"az://{container.container_name}/staged", **settings)


@pytest.fixture
def storage(azurite: Azurite, container: Any) -> ObjectStorage:
    return storage_of(azurite, container)


def blobs(container: Any) -> list[str]:
    """The blobs there (committed ones: what a reader, Milvus included, can see)."""
    return sorted(b.name for b in container.list_blobs())


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_groups_are_staged_with_their_digest_in_the_metadata(
    container: Any, storage: ObjectStorage, tmp_path: Path
) -> None:
    rows = write(tmp_path / "rows.json", b'{"rows": []}')
    ids, vec = write(tmp_path / "g" / "id.npy", b"ids"), write(tmp_path / "g" / "vec.npy", b"vec" * 1000)
    staged = stage_files(storage, [[rows], [ids, vec]])
    assert staged.groups[1][0] == f"staged/{hashlib.sha256(b'ids').hexdigest()}/id.npy"
    assert sorted(staged.uploaded) == sorted(staged.keys) and blobs(container) == sorted(staged.keys)
    for local, key in zip([rows, ids, vec], staged.keys, strict=True):
        blob = container.get_blob_client(key)
        content = Path(local).read_bytes()
        assert blob.download_blob().readall() == content
        assert blob.get_blob_properties().metadata == {AZURE_DIGEST_METADATA: hashlib.sha256(content).hexdigest()}


def test_restaging_uploads_nothing_and_another_blob_at_the_key_is_replaced(
    container: Any, storage: ObjectStorage, tmp_path: Path
) -> None:
    path = write(tmp_path / "rows.json", b"the real content")
    first = stage_files(storage, [[path]])
    again = stage_files(storage, [[path]])
    assert again.uploaded == () and again.skipped == first.keys
    # Same size, other bytes, no digest metadata (written by another tool): sent again.
    container.get_blob_client(first.keys[0]).upload_blob(b"the fake content", overwrite=True)
    assert stage_files(storage, [[path]]).uploaded == first.keys
    assert container.get_blob_client(first.keys[0]).download_blob().readall() == b"the real content"


def test_a_large_file_goes_in_blocks_and_keeps_the_digest(
    container: Any, storage: ObjectStorage, tmp_path: Path
) -> None:
    data = os.urandom(3 * PART_SIZE + 12345)
    seen: list[StagingProgress] = []
    key = stage_files(storage, [[write(tmp_path / "big.parquet", data)]], on_progress=seen.append).keys[0]
    blob = container.get_blob_client(key)
    committed, uncommitted = blob.get_block_list("all")
    assert [b.size for b in committed] == [PART_SIZE] * 3 + [12345] and uncommitted == []
    assert blob.get_blob_properties().metadata[AZURE_DIGEST_METADATA] == hashlib.sha256(data).hexdigest()
    assert blob.download_blob().readall() == data
    assert seen[-1].bytes_done == len(data) and seen[-1].files_done == 1


@pytest.mark.parametrize("size", [SINGLE_PUT_MAX, SINGLE_PUT_MAX + 1])
def test_a_file_up_to_single_put_max_goes_as_one_blob_a_larger_one_in_blocks(
    container: Any, storage: ObjectStorage, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    key = stage_files(storage, [[write(tmp_path / "f.parquet", data)]]).keys[0]
    blob = container.get_blob_client(key)
    committed, uncommitted = blob.get_block_list("all")
    # Put Blob (one request) leaves no block list; Put Block + Put Block List does.
    assert [b.size for b in committed] == ([] if size <= SINGLE_PUT_MAX else [PART_SIZE, PART_SIZE, 1])
    assert uncommitted == [] and blob.download_blob().readall() == data
    assert blob.get_blob_properties().metadata[AZURE_DIGEST_METADATA] == hashlib.sha256(data).hexdigest()


def test_a_failed_upload_leaves_no_blob(container: Any, storage: ObjectStorage, tmp_path: Path) -> None:
    small = stage_files(storage, [[write(tmp_path / "a.json", b"small")]]).keys[0]
    path = write(tmp_path / "big.parquet", os.urandom(3 * PART_SIZE))

    def fail_after_the_first_block(progress: StagingProgress) -> None:
        if progress.bytes_done >= PART_SIZE:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        stage_files(storage, [[path]], on_progress=fail_after_the_first_block)
    # No blob: the blocks sent stay uncommitted (Azure has no call to drop them; the service discards them after a
    # week), invisible to a reader and never under the key.
    assert blobs(container) == [small]
    big_key = f"staged/{hashlib.sha256(Path(path).read_bytes()).hexdigest()}/big.parquet"
    with pytest.raises(ObjectNotFoundError):
        verify_keys(storage, [big_key])


def test_an_empty_file_is_refused_before_anything_is_uploaded(
    container: Any, storage: ObjectStorage, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        stage_files(storage, [[write(tmp_path / "good.json", b"x")], [write(tmp_path / "empty.json", b"")]])
    assert blobs(container) == []


def test_verify_names_missing_and_empty_blobs(container: Any, storage: ObjectStorage, tmp_path: Path) -> None:
    present = stage_files(storage, [[write(tmp_path / "a.json", b"a")]]).keys[0]
    assert [c.outcome for c in verify_keys(storage, [present])] == ["present"]
    with pytest.raises(ObjectNotFoundError) as missing:
        verify_keys(storage, [present, "staged/nope.json"])
    assert missing.value.keys == ("staged/nope.json",) and missing.value.bucket == container.container_name
    container.get_blob_client("import/empty.json").upload_blob(b"")
    with pytest.raises(EmptyObjectError) as empty:
        verify_keys(storage, [present, "import/empty.json"])
    assert empty.value.keys == ("import/empty.json",)
    # az://CONTAINER/key of the same container is the key.
    assert normalize_key(storage, f"az://{container.container_name}/{present}") == present


def test_a_wrong_account_key_gives_no_verdict_and_never_shows(azurite: Azurite, container: Any, tmp_path: Path) -> None:
    wrong_key = "Kq9Zt" + azurite.account_key[5:]
    wrong = storage_of(azurite, container, secret_key=wrong_key)
    checks = verify_keys(wrong, ["staged/missing.json"])
    assert [c.outcome for c in checks] == ["unverified"] and "PermissionDenied" in checks[0].reason
    with pytest.raises(StorageError) as refused:
        stage_files(wrong, [[write(tmp_path / "a.json", b"a")]])
    for text in (repr(checks), str(refused.value), repr(refused.value.args), repr(wrong)):
        assert wrong_key not in text and azurite.account_key not in text
    assert blobs(container) == []


def test_ranged_reads_and_the_file_checks_read_keys_in_the_container(
    storage: ObjectStorage, tmp_path: Path, client: pi.ImportClient
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = helpers_rows(tmp_path / "rows.json")
    no_vec = write(tmp_path / "novec.json", b'{"rows": [{"id": 1}]}')
    table = pa.table({"id": np.arange(50_000, dtype=np.int64)})  # no vec column; ~400 kB
    pq.write_table(table, tmp_path / "t.parquet")
    staged = stage_files(storage, [[good], [no_vec], [str(tmp_path / "t.parquet")]])
    good_key, no_vec_key, parquet_key = staged.keys

    source = open_key(storage, parquet_key)
    data = (tmp_path / "t.parquet").read_bytes()
    assert source.size() == len(data) and source.read(len(data) - 8, 8) == data[-8:] and source.read(4, 6) == data[4:10]

    option = pi.new_bulk_import_option("", "coll", staged.groups)
    report = client.check_files(option, storage=storage)
    assert next((v.file, v.status) for v in report.verdicts) == (good_key, "ok")
    assert {(p.file, p.field) for p in report.problems} == {(no_vec_key, "vec"), (parquet_key, "vec")}
    with pytest.raises(pi.FileMismatchError):
        client.bulk_import(option, storage=storage)


def helpers_rows(path: Path) -> str:
    import helpers

    return helpers.write_json_rows(path, 3)


def test_arguments_azure_does_not_use_are_refused() -> None:
    key = "a2V5"  # base64
    with pytest.raises(InvalidInputError, match="session_token"):
        ObjectStorage("az://c1c/p", access_key="acct", secret_key=key, session_token="t")
    with pytest.raises(InvalidInputError, match="region"):
        ObjectStorage("az://c1c/p", access_key="acct", secret_key=key, region="eu")
    with pytest.raises(InvalidInputError, match="base64") as not_base64:
        ObjectStorage("az://c1c/p", access_key="acct", secret_key="Kq9Zt not base64")
    assert "Kq9Zt" not in str(not_base64.value) and not_base64.value.value is None


def test_the_cli_stages_into_azure_with_the_account_from_the_environment(
    azurite: Azurite, container: Any, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    rows = write(tmp_path / "rows.json", b"rows")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "MILVUS_"))}
    env.update(AZURE_STORAGE_ACCOUNT_NAME=azurite.account, AZURE_STORAGE_ACCOUNT_KEY=azurite.account_key)
    argv = [sys.executable, "-m", "pymilvus_import", "stage", "--json"]
    argv += ["--storage", f"az://{container.container_name}/cli", "--storage-endpoint", azurite.endpoint, rows]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    keys = json.loads(done.stdout)["staged"]["groups"][0]
    assert keys == [f"cli/{hashlib.sha256(b'rows').hexdigest()}/rows.json"] and blobs(container) == keys
    assert azurite.account_key not in done.stdout + done.stderr
