"""AsyncImportClient end to end against the real embedded Milvus 2.3.5: import, wait, and count what arrived."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import helpers
import pytest
from helpers import count_rows, write_json_rows, write_npy_group
from milvus_server import MilvusServer

import pymilvus_import as pi

pytestmark = pytest.mark.milvus


@pytest.fixture
def second_collection(milvus: MilvusServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    helpers.create_collection(milvus.uri, name)
    yield name
    helpers.drop_collection(milvus.uri, name)


def test_json_group_imports_and_completes(milvus: MilvusServer, collection: str, import_dir: Path) -> None:
    path = write_json_rows(import_dir / "rows.json", 1000)
    seen: list[str] = []

    async def main() -> tuple[str, pi.BulkImportResponse, tuple[pi.ImportProgress, ...], list[pi.ImportJobRecord]]:
        async with pi.AsyncImportClient(milvus.uri) as client:
            version = await client.server_version(timeout=10)
            response = await client.bulk_import(pi.new_bulk_import_option("", collection, [[path]]), timeout=60)
            final = await client.wait_for_import(response, timeout=120, on_progress=lambda p: seen.append(p.state))
            return version, response, final, await client.list_import_jobs(collection, timeout=10)

    version, response, final, listed = asyncio.run(main())
    assert version == "v2.3.5-lite"
    assert [p.state for p in final] == ["Completed"] * len(response.job_ids)
    assert [p.job_id for p in final] == list(response.job_ids)
    assert sum(p.imported_rows for p in final) == 1000
    assert seen[-1] == "Completed"
    assert {r.collection_name for r in listed} == {collection} and {r.state for r in listed} == {"Completed"}
    assert count_rows(milvus.uri, collection) == 1000


def test_two_imports_submitted_concurrently(
    milvus: MilvusServer, collection: str, second_collection: str, import_dir: Path
) -> None:
    json_file = write_json_rows(import_dir / "rows.json", 600)
    npy_group = write_npy_group(import_dir / "npy", 400, start_id=10_000)

    async def main() -> tuple[list[pi.BulkImportResponse], list[tuple[pi.ImportProgress, ...]]]:
        async with pi.AsyncImportClient(milvus.uri) as client:
            responses = await asyncio.gather(
                client.bulk_import(pi.new_bulk_import_option("", collection, [[json_file]]), timeout=60),
                client.bulk_import(pi.new_bulk_import_option("", second_collection, [npy_group]), timeout=60),
            )
            finals = await asyncio.gather(*(client.wait_for_import(r, timeout=120) for r in responses))
            return list(responses), list(finals)

    responses, finals = asyncio.run(main())
    assert not set(responses[0].job_ids) & set(responses[1].job_ids)
    for final in finals:
        assert {p.state for p in final} == {"Completed"}
    assert [sum(p.imported_rows for p in final) for final in finals] == [600, 400]
    assert count_rows(milvus.uri, collection) == 600
    assert count_rows(milvus.uri, second_collection) == 400


def test_missing_file_fails_the_job_and_unknown_jobs_match_the_sync_client(
    milvus: MilvusServer, collection: str, import_dir: Path
) -> None:
    missing_file = str(import_dir / "not_there.json")

    async def main() -> tuple[pi.ImportFailedError, pi.ImportJobNotFoundError]:
        async with pi.AsyncImportClient(milvus.uri) as client:
            response = await client.bulk_import(pi.new_bulk_import_option("", collection, [[missing_file]]), timeout=60)
            with pytest.raises(pi.ImportFailedError) as failed:
                await client.wait_for_import(response, timeout=120)
            with pytest.raises(pi.ImportJobNotFoundError) as unknown:
                await client.get_import_progress(123_456_789, timeout=10)
            return failed.value, unknown.value

    failed, unknown = asyncio.run(main())
    assert {p.state for p in failed.progress} == {"Failed"} and failed.reason
    with pi.ImportClient(milvus.uri) as sync, pytest.raises(pi.ImportJobNotFoundError) as sync_unknown:
        sync.get_import_progress(123_456_789, timeout=10)
    assert (type(unknown), str(unknown)) == (type(sync_unknown.value), str(sync_unknown.value))
    assert count_rows(milvus.uri, collection) == 0
