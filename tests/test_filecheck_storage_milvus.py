# ruff: noqa: E501
"""File checks on keys of the bucket Milvus reads (ranged reads), on a real Milvus 2.3.5 over SeaweedFS.

Each bad key is first imported without the check (``validate="off"``): the real job fails, with the server's own
reason. With the check (on by default with the preflight, ``storage=`` given), the same key is refused before any
job, naming the key and the field. Good keys pass and import their rows; keys the storage credentials cannot read
get no verdict and the import goes ahead; a large Parquet key is judged from its footer, read with ranged GETs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import helpers
import numpy as np
import pytest
from milvus_server import MilvusServer
from s3_server import BUCKET, storage_for

import pymilvus_import as pi
from pymilvus_import import ObjectStorage
from pymilvus_import._storage import StorageObject
from tools.seaweedfs_launcher import SeaweedFS

pytestmark = [pytest.mark.milvus, pytest.mark.milvus_restart]  # Milvus on S3: another server state

DIM = 8  # the vector dim of the conftest s3_collection


def write_parquet(path: Path, n: int, *, with_vec: bool = True, row_group_size: int | None = None) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = np.arange(n, dtype=np.int64)
    columns: dict[str, object] = {"id": ids}
    if with_vec:
        vecs = np.sin(ids[:, None] + np.arange(DIM)[None, :]).astype(np.float32)
        flat = pa.array(vecs.reshape(-1))
        columns["vec"] = pa.ListArray.from_arrays(pa.array(np.arange(0, n * DIM + 1, DIM, dtype=np.int32)), flat)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return str(path)


def write_npy(directory: Path, n: int, dim: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "id.npy", np.arange(n, dtype=np.int64))
    np.save(directory / "vec.npy", np.full((n, dim), 0.5, np.float32))
    return [str(directory / "id.npy"), str(directory / "vec.npy")]


def write_json(path: Path, content: str) -> list[str]:
    path.write_text(content)
    return [str(path)]


@dataclass(frozen=True)
class BadKey:
    name: str
    write: Callable[[Path], list[str]]
    server_reason: str  # what the 2.3.5 job fails with (tests/test_files_milvus.py measures the same rules)
    file: str  # the key's last segment the check names
    field: str


BAD = [
    BadKey("json-without-vector", lambda d: write_json(d / "rows.json", '{"rows": [{"id": 1}, {"id": 2}]}'), "value of field 'vec' is missed", "rows.json", "vec"),
    BadKey("npy-wrong-dim", lambda d: write_npy(d / "npy", 5, DIM // 2), "illegal dimension 4 of numpy file for float vector field 'vec', dimension should be 8", "vec.npy", "vec"),
    BadKey("parquet-missing-column", lambda d: [write_parquet(d / "t.parquet", 3, with_vec=False)], "there is no field in parquet file of name: vec", "t.parquet", "vec"),
]  # fmt: skip


def job_ids(uri: str, collection: str) -> set[str | None]:
    return {job.job_id for job in pi.list_import_jobs(uri, collection)}


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_a_bad_key_is_refused_before_any_job_and_the_server_fails_it_without_the_check(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path, case: BadKey
) -> None:
    staged = pi.stage_files(storage, [case.write(tmp_path)])
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, staged.groups)
    bad_key = next(k for k in staged.keys if k.endswith("/" + case.file))

    before = job_ids(milvus_s3.uri, s3_collection)
    with pytest.raises(pi.FileMismatchError) as refused:
        pi.bulk_import(option, storage=storage)
    assert (bad_key, case.field) in [(p.file, p.field) for p in refused.value.problems]
    assert bad_key in str(refused.value)
    assert job_ids(milvus_s3.uri, s3_collection) == before  # no new job

    report = pi.ImportClient(milvus_s3.uri).check_files(option, storage=storage)
    assert not report.ok and (bad_key, case.field) in [(p.file, p.field) for p in report.problems]

    # Without the check, the real job is created and fails with the server's reason.
    response = pi.bulk_import(option, storage=storage, validate="off")
    assert len(job_ids(milvus_s3.uri, s3_collection)) == len(before) + 1
    with pytest.raises(pi.ImportFailedError) as failed:
        pi.wait_for_import(milvus_s3.uri, response, timeout=120)
    assert case.server_reason in failed.value.reason
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 0


def test_good_keys_of_every_format_pass_the_check_and_import_their_rows(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    files = [
        [helpers.write_json_rows(tmp_path / "rows.json", 10, dim=DIM)],
        [write_parquet(tmp_path / "rows.parquet", 20)],
        write_npy(tmp_path / "npy", 30, DIM),
    ]
    staged = pi.stage_files(storage, files)
    # Given as s3://BUCKET/key: normalised to the key Milvus reads, as the key verification does.
    groups = [[f"s3://{BUCKET}/{k}" for k in g] for g in staged.groups]
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, groups)
    with pi.ImportClient(milvus_s3.uri) as client:
        report = client.check_files(option, storage=storage)
    assert [(v.file, v.status) for v in report.verdicts] == [(k, "ok") for g in staged.groups for k in g]
    # The numpy rows of ids 0..29 overlap the JSON's and Parquet's ids: Milvus allows duplicate keys on import.
    final = pi.wait_for_import(milvus_s3.uri, pi.bulk_import(option, storage=storage), timeout=120)
    assert [p.state for p in final] == ["Completed"] * 3
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 60


def test_the_client_storage_and_the_async_client_read_keys_too(
    milvus_s3: MilvusServer, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    key = pi.stage_files(storage, [write_json(tmp_path / "rows.json", '[{"id": 1}]')]).keys[0]
    option = pi.new_bulk_import_option("", s3_collection, [[key]])
    before = job_ids(milvus_s3.uri, s3_collection)
    with pi.ImportClient(milvus_s3.uri, storage=storage) as client:
        assert [(p.file, p.field) for p in client.check_files(option).problems] == [(key, "vec")]
        with pytest.raises(pi.FileMismatchError):
            client.bulk_import(option)

    async def main() -> pi.FileReport:
        async with pi.AsyncImportClient(milvus_s3.uri) as client:
            with pytest.raises(pi.FileMismatchError):
                await client.bulk_import(option, storage=storage)
            return await client.check_files(option, storage=storage)

    assert [(p.file, p.field) for p in asyncio.run(main()).problems] == [(key, "vec")]
    assert job_ids(milvus_s3.uri, s3_collection) == before


def test_keys_the_storage_credentials_cannot_read_get_no_verdict_and_the_import_goes_ahead(
    milvus_s3: MilvusServer, s3: SeaweedFS, s3_collection: str, storage: ObjectStorage, tmp_path: Path
) -> None:
    key = pi.stage_files(storage, [[helpers.write_json_rows(tmp_path / "rows.json", 9, dim=DIM)]]).keys[0]
    wrong = storage_for(s3, BUCKET, storage.prefix, secret_key="wrong-secret")
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[key]])
    with pi.ImportClient(milvus_s3.uri) as client:
        report = client.check_files(option, storage=wrong)
    assert report.ok and [v.status for v in report.verdicts] == ["not readable"]
    assert "no verdict" in report.verdicts[0].detail and "wrong-secret" not in str(report.verdicts[0].to_dict())
    final = pi.wait_for_import(milvus_s3.uri, pi.bulk_import(option, storage=wrong), timeout=120)
    assert [p.state for p in final] == ["Completed"]
    assert helpers.count_rows(milvus_s3.uri, s3_collection) == 9

    # A bad key read with those credentials is not refused either: the server judges it (no guess).
    bad = pi.stage_files(storage, [write_json(tmp_path / "bad.json", '[{"id": 1}]')]).keys[0]
    response = pi.bulk_import(pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[bad]]), storage=wrong)
    with pytest.raises(pi.ImportFailedError, match="value of field 'vec' is missed"):
        pi.wait_for_import(milvus_s3.uri, response, timeout=120)


def test_a_large_parquet_key_is_checked_from_its_footer_with_ranged_reads_only(
    milvus_s3: MilvusServer,
    s3_collection: str,
    storage: ObjectStorage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_parquet(tmp_path / "big.parquet", 1_000_000, row_group_size=100_000)
    size = Path(path).stat().st_size
    assert size > 20_000_000  # ~23 MB
    key = pi.stage_files(storage, [[path]]).keys[0]
    read: list[int] = []
    original = StorageObject.read

    def counting(self: StorageObject, offset: int, length: int) -> bytes:
        data = original(self, offset, length)
        read.append(len(data))
        return data

    monkeypatch.setattr(StorageObject, "read", counting)
    option = pi.new_bulk_import_option(milvus_s3.uri, s3_collection, [[key]])
    with pi.ImportClient(milvus_s3.uri) as client:
        report = client.check_files(option, storage=storage)
    assert [v.status for v in report.verdicts] == ["ok"]
    assert read and sum(read) <= 1 << 17 < size // 100, (sum(read), size)

    # The same footer with a column missing is refused, again from a few ranged reads.
    read.clear()
    bad = pi.stage_files(storage, [[write_parquet(tmp_path / "novec.parquet", 1_000_000, with_vec=False)]]).keys[0]
    bad_size = Path(tmp_path / "novec.parquet").stat().st_size
    with pi.ImportClient(milvus_s3.uri) as client:
        problems = client.check_files(pi.new_bulk_import_option("", s3_collection, [[bad]]), storage=storage).problems
    assert [(p.file, p.field) for p in problems] == [(bad, "vec")]
    # A footer read (pyarrow asks for the last 64 KiB first), whatever the object's size.
    assert sum(read) <= 1 << 17 < bad_size // 30, (sum(read), bad_size)


def test_cli_check_storage_exits_2_on_a_bad_key_and_0_on_a_good_one(
    milvus_s3: MilvusServer,
    s3: SeaweedFS,
    s3_collection: str,
    storage: ObjectStorage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = pi.stage_files(storage, [[helpers.write_json_rows(tmp_path / "rows.json", 4, dim=DIM)]]).keys[0]
    bad = pi.stage_files(storage, [write_json(tmp_path / "bad.json", '{"rows": [{"id": 1}]}')]).keys[0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    url = f"s3://{BUCKET}/{storage.prefix}"
    cli = ["check", "--uri", milvus_s3.uri, "--json", "-c", s3_collection, "--storage", url]
    cli += ["--storage-endpoint", s3.endpoint]
    before = job_ids(milvus_s3.uri, s3_collection)

    refused = helpers.run_cli(capsys, *cli, good, bad)
    assert refused.code == 2, refused
    document = refused.json()
    assert [(p["file"], p["field"]) for p in document["problems"]] == [(bad, "vec")]
    assert [f["status"] for f in document["files"]] == ["ok", "problems"]
    assert s3.secret_key not in refused.out + refused.err

    clean = helpers.run_cli(capsys, *cli, good)
    assert clean.code == 0, clean
    assert [f["status"] for f in clean.json()["files"]] == ["ok"]
    assert job_ids(milvus_s3.uri, s3_collection) == before
