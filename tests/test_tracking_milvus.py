"""Following import jobs on the real embedded Milvus 2.3.5: progress, waiting, failures, listing.

Milvus 2.3 reports real job ids (also when listing), honours the listing limit, walks jobs through
Pending/Started/Persisted/Completed and answers "key not found" for an unknown id.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import helpers
import pytest
from milvus_server import MilvusServer

import pymilvus_import as pi

pytestmark = pytest.mark.milvus


@pytest.fixture
def server(milvus: MilvusServer) -> MilvusServer:
    """The real server is this module's server: the suite's ``client`` fixture connects to it."""
    return milvus


def test_submit_wait_completes_with_the_right_row_counts(
    milvus: MilvusServer, client: pi.ImportClient, collection: str, import_dir: Path
) -> None:
    rows = helpers.write_json_rows(import_dir / "rows.json", 1000)
    npy = helpers.write_npy_group(import_dir / "npy", 700, start_id=5000)
    response = client.bulk_import(helpers.option([[rows], npy], collection=collection))
    assert len(response.job_ids) == 2 and len(set(response.job_ids)) == 2
    changes: list[pi.ImportProgress] = []

    final = client.wait_for_import(response, timeout=180, on_progress=changes.append)

    assert [p.job_id for p in final] == list(response.job_ids)
    assert [(p.state, p.raw_state, p.progress, p.reason) for p in final] == [
        ("Completed", "ImportCompleted", 100, "")
    ] * 2
    assert [p.imported_rows for p in final] == [1000, 700]
    assert final[0].infos["collection"] == collection and final[0].infos["files"] == rows
    assert final[1].infos["files"] == ",".join(npy)
    for p in final:
        assert p.create_time is not None
        assert abs((datetime.now(timezone.utc) - p.create_time).total_seconds()) < 600
    for job_id in response.job_ids:
        seen = [p for p in changes if p.job_id == job_id]
        assert seen[-1].state == "Completed"
        assert all(p.state in ("Pending", "Importing") for p in seen[:-1])
        assert [p.progress for p in seen] == sorted(p.progress for p in seen)  # never goes backwards
        assert {p.raw_state for p in seen} <= {
            "ImportPending",
            "ImportStarted",
            "ImportPersisted",
            "ImportFlushed",
            "ImportCompleted",
        }
    assert helpers.count_rows(milvus.uri, collection) == 1700

    again = client.get_import_progress(response.job_ids[1])
    assert (again.job_id, again.state, again.imported_rows) == (response.job_ids[1], "Completed", 700)


def test_completion_is_noticed_promptly(client: pi.ImportClient, collection: str, import_dir: Path) -> None:
    rows = helpers.write_json_rows(import_dir / "rows.json", 200)
    response = client.bulk_import(helpers.option([[rows]], collection=collection))
    done_at: list[float] = []

    def note(p: pi.ImportProgress) -> None:
        if p.state == "Completed":
            done_at.append(time.monotonic())

    client.wait_for_import(response, timeout=180, poll_max=0.5, on_progress=note)
    returned = time.monotonic()
    assert len(done_at) == 1 and returned - done_at[0] < 0.5


def test_job_failing_on_the_server_raises_import_failed_with_its_reason(
    milvus: MilvusServer, client: pi.ImportClient, collection: str, import_dir: Path
) -> None:
    good = helpers.write_json_rows(import_dir / "good.json", 300)
    missing = str(import_dir / "missing.json")
    response = client.bulk_import(
        helpers.option([[good], [missing]], collection=collection)
    )  # accepted: the job fails later

    with pytest.raises(pi.ImportFailedError) as caught:
        client.wait_for_import(response, timeout=180)

    error = caught.value
    assert "no such file or directory" in error.reason and missing in error.reason
    assert error.reason in str(error) and response.job_ids[1] in str(error)
    assert [(p.job_id, p.state) for p in error.progress] == [
        (response.job_ids[0], "Completed"),
        (response.job_ids[1], "Failed"),
    ]
    assert error.progress[0].imported_rows == 300
    assert error.progress[1].raw_state in ("ImportFailed", "ImportFailedAndCleaned")
    assert helpers.count_rows(milvus.uri, collection) == 300

    failed = client.get_import_progress(response.job_ids[1])
    assert (failed.state, failed.reason) == ("Failed", error.reason)


def test_unknown_job_id_is_import_job_not_found(client: pi.ImportClient) -> None:
    with pytest.raises(pi.ImportJobNotFoundError, match="key not found") as caught:
        client.get_import_progress(12345)
    assert caught.value.job_id == "12345"
    started = time.monotonic()
    with pytest.raises(pi.ImportJobNotFoundError):
        client.wait_for_import(12345, timeout=30)
    assert time.monotonic() - started < 5


def test_listing_shows_the_jobs_of_a_collection(
    milvus: MilvusServer, client: pi.ImportClient, collection: str, import_dir: Path
) -> None:
    other = helpers.create_collection(milvus.uri, f"{collection}_other")
    try:
        mine = client.bulk_import(
            helpers.option(
                [
                    [helpers.write_json_rows(import_dir / "a.json", 100)],
                    [helpers.write_json_rows(import_dir / "b.json", 200, start_id=1000)],
                ],
                collection=collection,
            )
        )
        theirs = client.bulk_import(
            helpers.option([[helpers.write_json_rows(import_dir / "c.json", 50)]], collection=other)
        )
        client.wait_for_import([*mine.job_ids, *theirs.job_ids], timeout=180)

        records = client.list_import_jobs(collection)
        assert sorted(r.job_id or "" for r in records) == sorted(mine.job_ids)  # real ids on 2.3
        by_id = {r.job_id: r for r in records}
        assert {r.collection_name for r in records} == {collection}
        assert [(by_id[j].state, by_id[j].imported_rows, by_id[j].progress) for j in mine.job_ids] == [
            ("Completed", 100, 100),
            ("Completed", 200, 100),
        ]

        limited = client.list_import_jobs(collection, limit=1)
        assert len(limited) == 1 and limited[0].job_id in mine.job_ids

        everything = {r.job_id for r in client.list_import_jobs()}
        assert set(mine.job_ids) | set(theirs.job_ids) <= everything
        assert pi.list_import_jobs(milvus.uri, other)[0].job_id == theirs.job_id
    finally:
        helpers.drop_collection(milvus.uri, other)


def test_module_level_functions_against_the_server(milvus: MilvusServer, collection: str, import_dir: Path) -> None:
    rows = helpers.write_json_rows(import_dir / "rows.json", 100)
    response = pi.bulk_import(pi.new_bulk_import_option(milvus.uri, collection, [[rows]]))
    (final,) = pi.wait_for_import(milvus.uri, response, timeout=180)
    assert final.state == "Completed" and final.imported_rows == 100
    assert pi.get_import_progress(milvus.uri, response.job_id).state == "Completed"
