"""The preflight through the public API, against the 2.4+ test server (tests/fake_milvus.py): the verdicts, the
requests it sends, the dry run (no Import at all), and a server that will not describe collections
(PERMISSION_DENIED: no verdict, the Import goes ahead)."""

from __future__ import annotations

import base64
import json
from typing import Any

import helpers
import pytest
from fake_milvus import Fault, Milvus24TestServer, field

import pymilvus_import as pi
from pymilvus_import import (
    CollectionNotFoundError,
    DatabaseNotFoundError,
    PartitionNotFoundError,
    SchemaMismatchError,
    UnsupportedByServerError,
)
from pymilvus_import._cli import main

TOKEN = "root:Milvus"


pytestmark = pytest.mark.test_server(
    version="v2.4.10",
    collections=(
        {"name": "books", "partitions": ("_default", "p1")},
        {"name": "tenants", "partition_key": True},
        {
            "name": "auto",
            "fields": [field("pk", primary=True, auto_id=True), field("vec", "FloatVector")],
            "enable_dynamic_field": True,
        },
        {"name": "films", "db_name": "shop"},
    ),
)


def check(server: Milvus24TestServer, opt: pi.BulkImportOption, **client_args: Any) -> pi.ImportPlan:
    """A dry run through a fresh client: the preflight's verdict, and the plan when it passes."""
    with pi.ImportClient(server.uri, **client_args) as client:
        return client.bulk_import(opt, timeout=10, dry_run=True)


def npy(*stems: str) -> list[str]:
    return [f"/data/g/{s}.npy" for s in stems]


def test_a_correct_request_passes(server: Milvus24TestServer) -> None:
    plan = check(
        server,
        helpers.option([npy("id", "vec"), ["/d/a.json"]], collection="books", uri=server.uri).with_partition("p1"),
    )
    assert plan.schema_checked and [r.files for r in plan.requests] == [tuple(npy("id", "vec")), ("/d/a.json",)]
    # GetVersion: whether a .npy file for no field is refused depends on the version (asked once per client)
    assert [c.method for c in server.requests] == ["GetVersion", "DescribeCollection", "HasPartition"]
    assert server.import_count() == 0


def test_unknown_collection(server: Milvus24TestServer) -> None:
    with pytest.raises(CollectionNotFoundError, match="'nope'") as info:
        check(server, helpers.option([["/d/a.json"]], collection="nope", uri=server.uri))
    assert not isinstance(info.value, DatabaseNotFoundError)


def test_unknown_database(server: Milvus24TestServer) -> None:
    with pytest.raises(DatabaseNotFoundError, match="database 'attic'"):
        check(server, helpers.option([["/d/a.json"]], collection="books", uri=server.uri).with_database("attic"))


def test_database_from_the_client_is_used(server: Milvus24TestServer) -> None:
    check(server, helpers.option([["/d/a.json"]], collection="films", uri=server.uri), db_name="shop")
    (call,) = server.requests
    assert call.request.db_name == "shop" and call.metadata["dbname"] == "shop"


def test_unknown_partition(server: Milvus24TestServer) -> None:
    with pytest.raises(PartitionNotFoundError, match="'zz'"):
        check(server, helpers.option([["/d/a.json"]], collection="books", uri=server.uri).with_partition("zz"))


def test_partition_name_on_partition_key_collection(server: Milvus24TestServer) -> None:
    with pytest.raises(SchemaMismatchError, match="partition key field 'tenant'"):
        check(server, helpers.option([["/d/a.json"]], collection="tenants", uri=server.uri).with_partition("_default"))


def test_numpy_group_missing_a_field(server: Milvus24TestServer) -> None:
    with pytest.raises(SchemaMismatchError, match="no file for field 'tenant'"):
        check(server, helpers.option([npy("id", "vec")], collection="tenants", uri=server.uri))


def test_numpy_group_with_a_misspelt_file(server: Milvus24TestServer) -> None:
    """2.4+ ignores the misspelt file (2.3.5 refuses it: tests/test_preflight_milvus.py): the verdict is the field
    it leaves missing, naming the file and the close name."""
    with pytest.raises(SchemaMismatchError, match=r"no file for field 'vec'.*did you mean 'vec\.npy'") as info:
        check(server, helpers.option([npy("id", "vce")], collection="books", uri=server.uri))
    assert info.value.field_name == "vec" and "'/data/g/vce.npy' names no field and is ignored" in str(info.value)


def test_auto_id_key_and_meta(server: Milvus24TestServer) -> None:
    check(server, helpers.option([npy("vec", "$meta")], collection="auto", uri=server.uri))
    with pytest.raises(SchemaMismatchError, match="auto-id primary key"):
        check(server, helpers.option([npy("pk", "vec")], collection="auto", uri=server.uri))


def test_csv_on_a_2_4_server(server: Milvus24TestServer) -> None:
    with pytest.raises(UnsupportedByServerError, match="CSV"):
        check(server, helpers.option([["/d/a.csv"]], collection="books", uri=server.uri))
    assert [c.method for c in server.requests] == ["GetVersion"]  # asked only because a verdict needs it


def test_permission_denied_gives_no_verdict_and_the_import_goes_ahead(server: Milvus24TestServer) -> None:
    """Decision: a user who may import but not describe gets no preflight verdict (never a guessed one), and the
    Import goes ahead: the server then judges it, as without the preflight."""
    server.deny_preflight = True
    assert not check(server, helpers.option([npy("id")], collection="nope", uri=server.uri)).schema_checked
    assert not check(
        server, helpers.option([["/d/a.json"]], collection="books", uri=server.uri).with_partition("zz")
    ).schema_checked
    assert [c.method for c in server.requests] == ["GetVersion", "DescribeCollection", "DescribeCollection"]
    response = pi.bulk_import(helpers.option([["/d/a.json"]], collection="books", uri=server.uri))
    assert response.job_id and server.import_count() == 1
    with pytest.raises(pi.BulkImportError, match="collection not found"):
        pi.bulk_import(helpers.option([["/d/a.json"]], collection="nope", uri=server.uri))


@pytest.mark.test_server(require_token=TOKEN, collections=("books",))
def test_unauthenticated_is_raised_and_the_preflight_uses_the_imports_credentials(server: Milvus24TestServer) -> None:
    opt = helpers.option([["/d/a.json"]], collection="books", uri=server.uri)
    with pytest.raises(pi.AuthenticationError):
        check(server, opt)
    assert check(server, opt, token=TOKEN).schema_checked
    assert check(server, opt.with_api_key(TOKEN)).schema_checked
    describe = server.requests_for("DescribeCollection")[-1]
    assert describe.metadata["authorization"] == base64.b64encode(TOKEN.encode()).decode()


def test_cache_pays_one_describe_for_a_loop(server: Milvus24TestServer) -> None:
    opt = helpers.option([npy("id", "vec")], collection="books", uri=server.uri).with_partition("p1")
    with pi.ImportClient(server.uri) as client:
        for _ in range(5):
            client.bulk_import(opt, timeout=10)
    methods = [c.method for c in server.requests]
    assert methods == ["GetVersion", "DescribeCollection", "HasPartition", *["Import"] * 5]


def test_preflight_can_be_turned_off_per_call_and_per_client(server: Milvus24TestServer) -> None:
    opt = helpers.option([["/d/a.json"]], collection="books", uri=server.uri)
    pi.bulk_import(opt, preflight=False)
    with pi.ImportClient(server.uri, preflight=False) as client:
        client.bulk_import(opt)
        client.bulk_import(opt, preflight=True)
    assert [c.method for c in server.requests] == ["Import", "Import", "DescribeCollection", "Import"]


def test_a_refused_import_drops_the_cached_schema(server: Milvus24TestServer) -> None:
    opt = helpers.option([["/d/a.json"]], collection="books", uri=server.uri)
    with pi.ImportClient(server.uri) as client:
        client.bulk_import(opt)
        server.inject("Import", Fault.status(100, "collection not found[collection=books]"))
        with pytest.raises(pi.BulkImportError):
            client.bulk_import(opt)
        client.bulk_import(opt)
    assert [c.method for c in server.requests].count("DescribeCollection") == 2


# ----------------------------------------------------------------------------------------------- dry run
def test_dry_run_sends_no_import_and_shows_the_requests_masked(server: Milvus24TestServer) -> None:
    opt = (
        helpers.option([["/d/a.json"], npy("id", "vec")], collection="books", uri=server.uri)
        .with_partition("p1")
        .with_option("timeout", "300s")
        .with_option("ezk", "c2VjcmV0LWtleQ==")
        .with_idempotency_key("nightly-7")
        .with_api_key("sk-very-secret-1")
    )
    plan = pi.bulk_import(opt, dry_run=True)
    assert server.import_count() == 0 and server.requests_for("Import") == []
    assert plan.authenticated and plan.schema_checked and plan.target == server.uri
    assert [(r.collection_name, r.partition_name, r.db_name) for r in plan.requests] == [("books", "p1", "")] * 2
    assert [r.idempotency_key for r in plan.requests] == ["nightly-7#0", "nightly-7#1"]
    assert dict(plan.requests[0].options) == {"timeout": "300s", "ezk": "***"}
    shown = json.dumps(plan.to_dict()) + repr(plan)
    assert "sk-very-secret" not in shown and "c2VjcmV0" not in shown
    assert base64.b64encode(b"sk-very-secret-1").decode() not in shown


def test_dry_run_still_refuses_what_cannot_work(server: Milvus24TestServer) -> None:
    with pytest.raises(SchemaMismatchError):
        pi.bulk_import(helpers.option([npy("id")], collection="books", uri=server.uri), dry_run=True)
    assert server.import_count() == 0


def test_cli_dry_run_prints_the_masked_requests_and_sends_nothing(
    server: Milvus24TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--uri", server.uri, "--token", "sk-cli-secret-9", "submit", "-c", "books", "-p", "p1", "--dry-run"]
    assert main([*argv, "-o", "ezk=a2V5", "/d/a.json", ",".join(npy("id", "vec"))]) == 0
    out = capsys.readouterr().out
    assert "Dry run: 2 Import requests" in out and "checked against the server's schema" in out
    assert "/d/a.json" in out and "partition 'p1'" in out and "ezk=***" in out
    assert "sk-cli-secret" not in out and "a2V5" not in out
    assert main([*argv, "--json", "/d/a.json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dry_run"]["requests"][0]["files"] == ["/d/a.json"]
    assert document["dry_run"]["authorization"] == "***"
    assert server.import_count() == 0
