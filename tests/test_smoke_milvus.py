"""Smoke tests of the test harness itself: the raw generated stub imports into the real embedded Milvus 2.3.5."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from helpers import count_rows, wait_import_raw, write_json_rows, write_npy_group
from milvus_server import MilvusServer

from pymilvus_import._generated import milvus_pb2
from tools import milvus_pb2_grpc

pytestmark = pytest.mark.milvus


def _raw_import(address: str, request: milvus_pb2.ImportRequest) -> milvus_pb2.ImportResponse:
    with grpc.insecure_channel(address) as channel:
        return milvus_pb2_grpc.MilvusServiceStub(channel).Import(request, timeout=60)


def test_server_version(milvus: MilvusServer) -> None:
    with grpc.insecure_channel(milvus.address) as channel:
        reply = milvus_pb2_grpc.MilvusServiceStub(channel).GetVersion(milvus_pb2.GetVersionRequest(), timeout=10)
    assert reply.status.code == 0
    assert reply.version == "v2.3.5-lite"


def test_second_server_refuses_to_start(milvus: MilvusServer, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"already listens on 127\.0\.0\.1:19530"):
        MilvusServer(tmp_path / "second").start(timeout=5)
    assert milvus.running


def test_raw_import_json(milvus: MilvusServer, collection: str, import_dir: Path) -> None:
    path = write_json_rows(import_dir / "rows.json", 1000)
    reply = _raw_import(milvus.address, milvus_pb2.ImportRequest(collection_name=collection, files=[path]))
    assert reply.status.code == 0 and reply.status.error_code == 0, reply.status
    assert len(reply.tasks) == 1

    state, row_count, infos = wait_import_raw(milvus.address, reply.tasks[0], timeout=120)
    assert state == "ImportCompleted", infos
    assert row_count == 1000
    assert infos["collection"] == collection
    assert count_rows(milvus.uri, collection) == 1000


def test_raw_import_numpy_group(milvus: MilvusServer, collection: str, import_dir: Path) -> None:
    files = write_npy_group(import_dir, 700, start_id=10_000)
    reply = _raw_import(milvus.address, milvus_pb2.ImportRequest(collection_name=collection, files=files))
    assert reply.status.code == 0 and reply.status.error_code == 0, reply.status
    assert len(reply.tasks) == 1  # Milvus 2.3: all .npy files of one request form one task

    state, row_count, infos = wait_import_raw(milvus.address, reply.tasks[0], timeout=120)
    assert state == "ImportCompleted", infos
    assert row_count == 700
    assert count_rows(milvus.uri, collection) == 700
    assert count_rows(milvus.uri, collection, partition="_default") == 700
