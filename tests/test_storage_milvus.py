"""Files where Milvus reads them, on a real Milvus 2.3.5 whose storage is a real S3 server (SeaweedFS).

Every test here uses ``milvus_s3`` (one server with the same flags for the whole module, so the harness starts it
once); marked ``milvus_restart``, so it runs with the other modules that need the server in another state. Rows are
counted on the server with pymilvus; jobs are listed on the server before and after each refusal. The first tests
show the server's own behaviour that the client's verdicts rest on (a missing key, a local path, ``BUCKET/key`` and
``s3://BUCKET/key`` all create a job that fails).
"""

from __future__ import annotations

from pathlib import Path

import helpers
import numpy as np
import pytest
from milvus_server import MilvusServer
from s3_server import BUCKET, s3_client, storage_for

import pymilvus_import as pi
from pymilvus_import import ObjectStorage
from tools.seaweedfs_launcher import SeaweedFS

pytestmark = [pytest.mark.milvus, pytest.mark.milvus_restart]  # Milvus on S3: another server state

DIM = 8  # the vector dim of the conftest s3_collection


def write_parquet(path: Path, n: int, start_id: int = 0) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = np.arange(start_id, start_id + n, dtype=np.int64)
    vecs = np.sin(ids[:, None] + np.arange(DIM)[None, :]).astype(np.float32)
    table = pa.table({"id": ids, "vec": pa.array(list(vecs), type=pa.list_(pa.float32()))})
    pq.write_table(table, path)
    return str(path)


def job_ids(uri: str, collection: str) -> set[str | None]:
    return {job.job_id for job in pi.list_import_jobs(uri, collection)}


def wait_all(uri: str, response: pi.BulkImportResponse) -> tuple[pi.ImportProgress, ...]:
    return pi.wait_for_import(uri, response, timeout=120)


# -- the server's behaviour the verdicts rest on ------------------------------------------------------------------


def test_milvus_on_s3_fails_a_job_for_a_key_that_is_not_in_its_bucket(
    milvus_s3: MilvusServer, s3_collection: str, tmp_path: Path, storage: ObjectStorage
) -> None:
    local = helpers.write_json_rows(tmp_path / "rows.json", 10, dim=DIM)
    key = pi.stage_files(storage, [[local]]).keys[0]
    for wrong in ("nope/missing.json", local, f"{BUCKET}/{key}", f"s3://{BUCKET}/{key}"):
        option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[wrong]])
        response = pi.bulk_import(option, preflight=False)
        with pytest.raises(pi.ImportFailedError, match="does not exist"):
            wait_all(milvus_s3.uri, response)
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 0


# -- staged and imported --------------------------------------------------------------------------------------


def test_json_parquet_and_numpy_staged_then_imported_from_the_config_milvus_wrote(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, tmp_path: Path
) -> None:
    storage = ObjectStorage.from_milvus_config(milvus_s3.base_dir / "configs" / "milvus.yaml", prefix="from-config")
    assert (storage.bucket, storage.endpoint, storage.access_key) == (BUCKET, s3.endpoint, s3.access_key)
    files = [
        [helpers.write_json_rows(tmp_path / "rows.json", 100, dim=DIM)],
        [write_parquet(tmp_path / "rows.parquet", 200, start_id=1000)],
        helpers.write_npy_group(tmp_path / "npy", 300, dim=DIM, start_id=5000),
    ]
    staged = pi.stage_files(storage, files)
    assert [[k.rsplit("/", 1)[1] for k in g] for g in staged.groups] == [
        ["rows.json"],
        ["rows.parquet"],
        ["id.npy", "vec.npy"],
    ]
    response = pi.bulk_import(pi.new_bulk_import_option(milvus_s3.uri, s3_collection, staged.groups), storage=storage)
    final = wait_all(milvus_s3.uri, response)
    assert [p.state for p in final] == ["Completed"] * 3
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 600
    assert pi.stage_files(storage, files).uploaded == ()


def test_upload_true_stages_and_imports_in_one_call_and_restaging_uploads_nothing(
    milvus_s3: MilvusServer, s3_collection: str, tmp_path: Path, storage: ObjectStorage
) -> None:
    files = [
        [helpers.write_json_rows(tmp_path / "rows.json", 50, dim=DIM)],
        helpers.write_npy_group(tmp_path / "npy", 70, dim=DIM, start_id=100),
    ]
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, files)
    response = pi.bulk_import(option, storage=storage, upload=True)
    final = wait_all(milvus_s3.uri, response)
    assert [p.state for p in final] == ["Completed"] * 2
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 120
    again = pi.stage_files(storage, files)
    assert again.uploaded == () and len(again.skipped) == 3
    # The response says which keys were imported (the option's shape) and staged.
    assert response.files == again.groups and response.data.files == again.groups
    assert sorted(response.staged_keys) == sorted(again.keys)
    assert response.to_dict()["data"]["files"] == [list(g) for g in again.groups]
    assert response.to_dict()["data"]["jobIds"] == list(response.job_ids)

    # A changed file gets a new key, and imports its own rows.
    helpers.write_json_rows(tmp_path / "rows.json", 5, dim=DIM, start_id=10_000)
    changed = pi.stage_files(storage, [files[0]])
    assert changed.uploaded == changed.keys and changed.keys[0] != again.groups[0][0]


def test_upload_with_the_full_check_reports_upload_progress_and_imports_the_rows(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    # validate="full" reads every value of the local files before any byte is sent; the digest in each key is
    # computed from those reads (one read of each file), and the upload's bytes reach on_upload_progress.
    files = [[helpers.write_json_rows(tmp_path / "rows.json", 21, dim=DIM)], [write_parquet(tmp_path / "t.parquet", 9)]]
    progress: list[pi.StagingProgress] = []
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, files)
    response = pi.bulk_import(option, storage=storage, upload=True, validate="full", on_upload_progress=progress.append)
    assert [p.state for p in wait_all(milvus_s3.uri, response)] == ["Completed", "Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 30
    assert response.staged is not None and progress
    assert progress[-1].bytes_done == progress[-1].bytes_total == response.staged.bytes_uploaded
    assert progress[-1].files_done == len(response.staged.uploaded)
    staged = pi.stage_files(storage, files)  # the same keys: the digests were right
    assert staged.groups == response.files and staged.uploaded == ()


def test_a_dry_run_shows_keys_uploads_and_verdicts_and_sends_nothing(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, tmp_path: Path, storage: ObjectStorage
) -> None:
    local = helpers.write_json_rows(tmp_path / "rows.json", 5, dim=DIM)
    before = job_ids(milvus_s3.uri, s3_collection)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[local]])
    plan = pi.bulk_import(option, storage=storage, upload=True, dry_run=True)
    shown = plan.to_dict()["storage"]
    assert shown["staged"]["dry_run"] is True and len(shown["staged"]["uploaded"]) == 1
    assert plan.requests[0].files == tuple(shown["staged"]["uploaded"])
    assert "minioadmin" not in repr(plan) and "minioadmin" not in str(plan.to_dict())
    listed = s3_client(s3).list_objects_v2(Bucket=BUCKET, Prefix=storage.prefix)
    assert listed.get("KeyCount", 0) == 0  # nothing uploaded
    assert job_ids(milvus_s3.uri, s3_collection) == before


# -- refused before any job -----------------------------------------------------------------------------------


def test_a_missing_key_is_refused_before_any_job(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage
) -> None:
    before = job_ids(milvus_s3.uri, s3_collection)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [["import/nope.json"]])
    with pytest.raises(pi.ObjectNotFoundError) as info:
        pi.bulk_import(option, storage=storage)
    assert info.value.keys == ("import/nope.json",) and info.value.bucket == BUCKET
    assert job_ids(milvus_s3.uri, s3_collection) == before


def test_a_local_path_as_a_key_is_refused_with_how_to_upload_it(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    local = helpers.write_json_rows(tmp_path / "rows.json", 5, dim=DIM)
    before = job_ids(milvus_s3.uri, s3_collection)
    with pytest.raises(pi.ObjectNotFoundError, match="upload=True") as info:
        pi.bulk_import(pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[local]]), storage=storage)
    assert info.value.local_files == (local,)
    assert job_ids(milvus_s3.uri, s3_collection) == before


def test_bucket_forms_of_a_key_are_normalised_and_another_bucket_is_refused(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    key = pi.stage_files(storage, [[helpers.write_json_rows(tmp_path / "rows.json", 7, dim=DIM)]]).keys[0]
    before = job_ids(milvus_s3.uri, s3_collection)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[f"s3://other-bucket/{key}"]])
    with pytest.raises(pi.InvalidInputError, match="other-bucket"):
        pi.bulk_import(option, storage=storage)
    assert job_ids(milvus_s3.uri, s3_collection) == before
    # The server fails both bucket forms (first test); normalised, they import.
    for form in (f"s3://{BUCKET}/{key}", f"{BUCKET}/{key}"):
        option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[form]])
        response = pi.bulk_import(option, storage=storage)
        assert response.files == ((key,),) and response.staged_keys == ()  # the key sent, nothing staged
        final = wait_all(milvus_s3.uri, response)
        assert [p.state for p in final] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 14


def test_an_empty_file_is_refused_before_upload_and_before_any_job(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    before = job_ids(milvus_s3.uri, s3_collection)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[str(empty)]])
    with pytest.raises(pi.InvalidInputError, match="empty"):
        pi.bulk_import(option, storage=storage, upload=True)
    assert job_ids(milvus_s3.uri, s3_collection) == before
    assert s3_client(s3).list_objects_v2(Bucket=BUCKET, Prefix=storage.prefix).get("KeyCount", 0) == 0


def test_an_empty_object_fails_on_the_server_and_is_refused_before_any_job_with_storage(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, storage: ObjectStorage
) -> None:
    key = f"{storage.prefix}/empty.json"
    s3_client(s3).put_object(Bucket=BUCKET, Key=key, Body=b"")
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[key]])
    # Without the client's check, the server creates a job and fails it.
    with pytest.raises(pi.ImportFailedError, match="size is zero"):
        wait_all(milvus_s3.uri, pi.bulk_import(option, preflight=False))
    # With the storage, the HEAD's size refuses it before the first Import.
    before = job_ids(milvus_s3.uri, s3_collection)
    with pytest.raises(pi.EmptyObjectError) as info:
        pi.bulk_import(option, storage=storage)
    assert isinstance(info.value, pi.PreflightError)
    assert info.value.keys == (key,) and info.value.bucket == BUCKET
    assert job_ids(milvus_s3.uri, s3_collection) == before


def test_storage_credentials_that_cannot_read_give_no_verdict_and_the_import_completes(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    key = pi.stage_files(storage, [[helpers.write_json_rows(tmp_path / "rows.json", 9, dim=DIM)]]).keys[0]
    wrong = storage_for(s3, BUCKET, storage.prefix, secret_key="wrong-secret")
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[key]])
    plan = pi.bulk_import(option, storage=wrong, dry_run=True)
    assert [v["outcome"] for v in plan.to_dict()["storage"]["verified"]] == ["unverified"]
    final = wait_all(milvus_s3.uri, pi.bulk_import(option, storage=wrong))
    assert [p.state for p in final] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 9


def test_the_client_storage_is_used_by_its_calls(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    local = helpers.write_json_rows(tmp_path / "rows.json", 11, dim=DIM)
    with pi.ImportClient(milvus_s3.uri, storage=storage) as client:
        staged = client.stage_files([[local]])
        assert staged.keys[0].startswith(f"{storage.prefix}/")
        with pytest.raises(pi.ObjectNotFoundError):
            client.bulk_import(pi.new_bulk_import_option("", s3_collection, [["nope.json"]]))
        response = client.bulk_import(pi.new_bulk_import_option("", s3_collection, staged.groups))
        assert [p.state for p in client.wait_for_import(response, timeout=120)] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 11


def test_async_client_stages_and_imports(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    import asyncio

    local = helpers.write_json_rows(tmp_path / "rows.json", 13, dim=DIM)

    async def main() -> tuple[pi.ImportProgress, ...]:
        async with pi.AsyncImportClient(milvus_s3.uri, storage=storage) as client:
            option = pi.new_bulk_import_option("", s3_collection, [[local]])
            response = await client.bulk_import(option, upload=True)
            assert isinstance(response, pi.BulkImportResponse)
            assert response.files == ((response.staged_keys[0],),) and response.staged_keys[0].endswith("/rows.json")
            return await client.wait_for_import(response, timeout=120)

    assert [p.state for p in asyncio.run(main())] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 13


def test_cli_submit_upload_wait_and_a_missing_key_refused(
    milvus_s3: MilvusServer,
    s3: SeaweedFS,
    s3_collection: str,
    storage: ObjectStorage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    local = helpers.write_json_rows(tmp_path / "rows.json", 17, dim=DIM)
    url = f"s3://{BUCKET}/{storage.prefix}"
    common = ["submit", "--uri", milvus_s3.uri, "--json", "-c", s3_collection, "--storage", url]
    common += ["--storage-endpoint", s3.endpoint]
    done = helpers.run_cli(capsys, *common, "--upload", "--wait", "-q", local)
    assert done.code == 0, done
    document = done.json()
    assert document["staged"]["groups"][0][0].endswith("/rows.json")
    assert document["files"] == document["staged"]["groups"] and document["staged_keys"] == [document["files"][0][0]]
    assert [j["state"] for j in document["jobs"]] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 17
    assert s3.secret_key not in done.out + done.err

    before = job_ids(milvus_s3.uri, s3_collection)
    refused = helpers.run_cli(capsys, *common, "import/nope.json")
    assert refused.code == 2, refused
    assert refused.json()["error"]["type"] == "ObjectNotFoundError"
    assert job_ids(milvus_s3.uri, s3_collection) == before


def test_with_upload_a_bad_file_is_refused_before_any_byte_is_uploaded(
    milvus_s3: MilvusServer,
    s3: SeaweedFS,
    s3_collection: str,
    storage: ObjectStorage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A JSON file without the vector field: the server fails such a job ("value of field 'vec' is missed", facts
    # section 10; tests/test_files_milvus.py shows it on 2.3.5). With upload=True the check runs on the local file,
    # so neither a byte nor a job reaches the servers.
    good = helpers.write_json_rows(tmp_path / "good.json", 5, dim=DIM)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": [{"id": 1}, {"id": 2}]}')
    before = job_ids(milvus_s3.uri, s3_collection)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[good], [str(bad)]])
    with pytest.raises(pi.FileMismatchError) as raised:
        pi.bulk_import(option, storage=storage, upload=True)
    assert [(p.file, p.field) for p in raised.value.problems] == [(str(bad), "vec")]
    assert job_ids(milvus_s3.uri, s3_collection) == before
    assert s3_client(s3).list_objects_v2(Bucket=BUCKET, Prefix=storage.prefix).get("KeyCount", 0) == 0

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    url = f"s3://{BUCKET}/{storage.prefix}"
    cli = ["submit", "--uri", milvus_s3.uri, "--json", "-c", s3_collection, "--storage", url]
    refused = helpers.run_cli(capsys, *cli, "--storage-endpoint", s3.endpoint, "--upload", good, str(bad))
    assert refused.code == 2, refused
    assert refused.json()["error"]["type"] == "FileMismatchError"
    assert job_ids(milvus_s3.uri, s3_collection) == before
    assert s3_client(s3).list_objects_v2(Bucket=BUCKET, Prefix=storage.prefix).get("KeyCount", 0) == 0
