"""The contract of the whole public surface (issue 18), for every public callable and each of its parameters, found
by introspection (``tests/contract.py``), with arbitrary values (every fixed nasty value, then hypothesis's):

1. the only exceptions are the package's (``TypeError`` only for a wrong number of arguments), and an input error
   (``InvalidInputError`` that is not a preflight verdict) is raised before any RPC reaches the test server;
2. every exception raised and every value returned survives pickle, ``copy.deepcopy`` and a ``ProcessPoolExecutor``
   round trip with the same ``str()`` (and attributes), and ``InvalidInputError.value`` is plain data.

The secrets half of the contract is ``test_contract_secrets.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import contract
import grpc
import pytest
from contract import NASTY, SURFACE, Context, Verdicts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import._uri import parse_uri

pytestmark = pytest.mark.test_server(version="v2.6.24")

#: Generated values per parameter, on top of the fixed nasty ones (each tried on every parameter).
GENERATED = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
URI_PARAMETERS = {("ImportClient", "uri"), ("AsyncImportClient", "uri")} | {
    (name, "uri_or_client") for name in ("get_import_progress", "list_import_jobs", "wait_for_import")
}


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with contract.process_pool() as executor:
        yield executor


@pytest.fixture
def ctx(server: Any) -> Iterator[Context]:
    with contract.opened(server) as opened:
        yield opened


# ------------------------------------------------------------------------------------------ coverage
def test_every_public_callable_is_covered() -> None:
    """A new public function, method or class fails here until the contract knows how to call it."""
    operations = contract.operations()
    assert sorted(operations) == sorted(SURFACE), "add the new callable to contract.SURFACE"
    kinds = {name: obj for name, obj in contract.public_callables().items() if name not in operations}
    assert all(contract.is_error_class(obj) or contract.is_value_class(obj) for obj in kinds.values())
    assert len(contract.surface_parameters()) >= 150  # 29 operations, 155 parameters today


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_a_wrong_number_of_arguments_is_a_type_error_before_any_rpc(name: str, ctx: Context) -> None:
    target, good, _then = SURFACE[name]
    function = target(ctx)
    before = len(ctx.server.requests)
    with pytest.raises(TypeError):
        function(*range(12), **good(ctx))
    with pytest.raises(TypeError):
        function(**good(ctx), no_such_parameter=1)
    required = [p for p in inspect.signature(function).parameters.values() if p.default is p.empty]
    if required and all(p.kind is not p.VAR_KEYWORD for p in required):
        with pytest.raises(TypeError):
            function()
    assert len(ctx.server.requests) == before


# ------------------------------------------------------------------------------------------ 1 + 2
def _would_dial_elsewhere(name: str, parameter: str | None, value: Any, server_uri: str) -> bool:
    """A generated URI naming another server would make the test dial it (a real Milvus on 19530, or a DNS lookup):
    such values are not tried (what they would meet is a connection error, a package error too)."""
    if (name, parameter) not in URI_PARAMETERS or not isinstance(value, str) or not value.strip():
        return False
    try:
        return parse_uri(value).address != parse_uri(server_uri).address
    except pi.InvalidInputError:
        return False


PAIRS = [
    pytest.param(name, parameter, id=f"{name}({parameter or ''})") for name, parameter in contract.surface_parameters()
]


@pytest.mark.parametrize(("name", "parameter"), PAIRS)
def test_any_value_for_any_parameter_meets_the_contract(
    name: str, parameter: str | None, ctx: Context, pool: ProcessPoolExecutor
) -> None:
    target, good, then = SURFACE[name]
    verdicts = Verdicts(ctx.server)

    def attempt(label: str, value: Any) -> None:
        if _would_dial_elsewhere(name, parameter, value, ctx.server.uri):
            return
        kwargs = good(ctx)
        if parameter is not None:
            kwargs[parameter] = value
        known = contract.known_defect(parameter, value)
        verdicts.call(f"{name}({parameter}={label})", target(ctx), kwargs, then, ctx, known=known)

    verdicts.call(f"{name}(<working arguments>)", target(ctx), good(ctx), then, ctx)
    errors = [outcome for outcome in verdicts.outcomes if isinstance(outcome, BaseException)]
    assert not errors, f"the working arguments of {name} fail, so every other value would be refused by them: {errors}"
    if parameter is not None:
        for label, make in NASTY.items():
            attempt(label, make())

        @GENERATED
        @given(value=contract.arbitrary())
        def generated(value: Any) -> None:
            attempt(contract.label_of(value), value)

        generated()
    verdicts.through_pool(pool)
    assert not verdicts.failures, verdicts.report()


# ------------------------------------------------------------------------------------------ known defects
# Found by the suite in modules of the i15-core restructuring; each is one strict xfail, so
# the fix shows up as an XPASS to remove it (and its entry in contract.KNOWN_DEFECTS).
def test_wait_for_import_jobs_whose_iteration_raises_is_invalid_input(ctx: Context) -> None:
    with pytest.raises(pi.InvalidInputError):
        ctx.client.wait_for_import(contract.BoolRaises())  # type: ignore[arg-type]


def test_retry_attempts_whose_repr_raises_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.Retry(attempts=contract.StrRaises())  # type: ignore[arg-type]


def test_interceptors_whose_truth_value_raises_is_invalid_input(ctx: Context) -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.ImportClient(ctx.server.uri, interceptors=contract.BoolRaises())  # type: ignore[arg-type]


_STORAGE = {"url": "s3://bucket/prefix", "endpoint": "http://127.0.0.1:9"}


def test_object_storage_url_whose_repr_raises_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.ObjectStorage(contract.HostileStr("not-a-bucket-url"))


def test_object_storage_flag_that_is_not_a_bool_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.ObjectStorage(**_STORAGE, virtual_hosted_style=contract.BoolRaises())  # type: ignore[arg-type]


def test_object_storage_endpoint_urlsplit_cannot_read_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.ObjectStorage("s3://bucket/prefix", endpoint="http://[not-an-address]:9")


def test_verify_keys_with_keys_that_are_not_a_list_is_invalid_input() -> None:
    """Found trying the nasty values on the storage operations by hand (they need an object store, so they are not
    in the generative tests): an int, a lambda or a lock as ``keys`` is a TypeError; no request is made."""
    with pytest.raises(pi.InvalidInputError):
        pi.verify_keys(pi.ObjectStorage(**_STORAGE), object())  # type: ignore[arg-type]


def test_stage_files_with_files_whose_iteration_raises_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.stage_files(pi.ObjectStorage(**_STORAGE), contract.BoolRaises())  # type: ignore[arg-type]


def test_local_file_with_a_path_that_is_not_one_is_invalid_input() -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.LocalFile(None)  # type: ignore[arg-type]


def test_check_files_with_sources_taking_no_argument_is_invalid_input(ctx: Context) -> None:
    with pytest.raises(pi.InvalidInputError):
        ctx.client.check_files(ctx.option, sources=lambda: None, timeout=10)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ rules it led to
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=30)


@settings(max_examples=200, deadline=None)
@given(password=ANY_TEXT, user=st.sampled_from(["", "minio", "a:b"]), tail=st.sampled_from(["", "/", "/x?y=1"]))
def test_a_storage_endpoint_password_is_never_shown_whatever_it_holds(password: str, user: str, tail: str) -> None:
    """A password in an endpoint's user info ("/", "?", "#", "@", "[" or control characters in it) is masked in the
    value's repr and str, or in the error refusing it, by the one URL masking rule (_uri.mask_uri)."""
    secret = "Pw9x" + password
    endpoint = f"http://{user}:{secret}@127.0.0.1:9{tail}"
    try:
        storage = pi.ObjectStorage("s3://bucket/prefix", endpoint=endpoint)
    except pi.InvalidInputError as error:
        shown = [str(error), repr(error.value), repr(error.args)]
    else:
        shown = [repr(storage), str(storage)]
    assert not any(secret in text for text in shown), shown


def _would_request(value: Any) -> bool:
    """A value verify_keys accepts as keys and would send HEADs for (each failed one is retried for ~1.5 s)."""
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray))


def _storage_inputs() -> list[tuple[str, Any]]:
    return [(label, make()) for label, make in NASTY.items()]


@pytest.mark.parametrize("operation", ["verify_keys", "stage_files"])
def test_storage_operations_refuse_any_bad_input_before_any_request(operation: str) -> None:
    """The nasty values and arbitrary ones as ``keys``/``files``/``on_progress``/``storage``: the package's
    InvalidInputError (plain ``.value``, pickles), decided before any request (none can succeed here: the endpoint
    is a closed port, so a request would end in StorageError after retries)."""
    storage = pi.ObjectStorage(**_STORAGE)
    verdicts = Verdicts(None)

    def attempt(label: str, value: Any) -> None:
        if operation == "verify_keys":
            if _would_request(value):
                return
            calls = [("keys", lambda: pi.verify_keys(storage, value))]
        else:
            calls = [("files", lambda: pi.stage_files(storage, value))]
            if not callable(value) and value is not None:
                calls.append(("on_progress", lambda: pi.stage_files(storage, [[__file__]], on_progress=value)))
        if not isinstance(value, pi.ObjectStorage):
            calls.append(
                ("storage", lambda: getattr(pi, operation)(value, [["k"]] if operation == "stage_files" else ["k"]))
            )
        for parameter, call in calls:
            try:
                call()
            except pi.InvalidInputError as error:
                verdicts.judge_error(f"{operation}({parameter}={label})", error, rpcs=0)
            except BaseException as error:
                verdicts.failures.append(f"{operation}({parameter}={label}): {type(error).__name__}")
            else:
                verdicts.failures.append(f"{operation}({parameter}={label}): accepted")

    for label, value in _storage_inputs():
        attempt(label, value)

    @GENERATED
    @given(value=contract.arbitrary())
    def generated(value: Any) -> None:
        attempt(contract.label_of(value), value)

    generated()
    assert not verdicts.failures, verdicts.report()


def _not_a_progress_callback(value: Any) -> bool:
    """A value ``on_upload_progress`` must refuse: not callable (None is "no callback"), an async function, or one
    taking no argument."""
    if value is None:
        return False
    if not callable(value) or inspect.iscoroutinefunction(value):
        return True
    try:
        inspect.signature(value).bind(None)
    except TypeError:
        return True
    except ValueError:  # no signature to read: taken as it is
        return False
    return False


@pytest.mark.parametrize("entry", ["bulk_import", "ImportClient.bulk_import", "AsyncImportClient.bulk_import"])
def test_on_upload_progress_refuses_what_it_cannot_call_before_any_rpc_or_upload(entry: str, ctx: Context) -> None:
    """``on_upload_progress`` (issue 16, the CLI's progress bar through the public API) with every nasty value and
    arbitrary ones, on an ``upload=True`` call whose bucket is a closed port: a value it cannot call is the package's
    InvalidInputError naming the parameter, before any RPC and before any storage request."""
    storage = pi.ObjectStorage(**_STORAGE, access_key="a", secret_key="b")
    target, good, _then = SURFACE[entry]
    verdicts = Verdicts(ctx.server)

    def attempt(label: str, value: Any) -> None:
        if not _not_a_progress_callback(value):
            return  # a usable callback: the call would go on to stage into the closed port
        kwargs = {**good(ctx), "storage": storage, "upload": True, "on_upload_progress": value}
        before = len(ctx.server.requests)
        try:
            target(ctx)(**kwargs)
        except pi.InvalidInputError as error:
            verdicts.judge_error(f"{entry}(on_upload_progress={label})", error, rpcs=len(ctx.server.requests) - before)
            if error.field != "on_upload_progress":
                verdicts.failures.append(f"{entry}(on_upload_progress={label}): refused for {error.field}")
        except BaseException as error:
            verdicts.failures.append(f"{entry}(on_upload_progress={label}): {type(error).__name__}: {error}")
        else:
            verdicts.failures.append(f"{entry}(on_upload_progress={label}): accepted")

    async def later(progress: Any) -> None: ...

    for label, make in {**NASTY, "async function": lambda: later, "no argument": lambda: lambda: None}.items():
        attempt(label, make())

    @GENERATED
    @given(value=contract.arbitrary())
    def generated(value: Any) -> None:
        attempt(contract.label_of(value), value)

    generated()
    assert not verdicts.failures, verdicts.report()


@settings(max_examples=30, deadline=None)
@given(
    label=st.integers(min_value=64, max_value=300),
    labels=st.integers(min_value=1, max_value=130),
    scheme=st.sampled_from(["", "http://", "grpcs://"]),
)
def test_host_names_dns_can_never_resolve_are_refused(label: int, labels: int, scheme: str) -> None:
    """A label over 63 characters or a name over 253 never resolves; gRPC would wait out the deadline on it."""
    for host in ("x" * label, ".".join(["a"] * labels) + "." + "b" * 64, "9" * (label * 10), ".".join(["ab"] * 90)):
        with pytest.raises(pi.InvalidInputError, match="host"):
            pi.ImportClient(f"{scheme}{host}:19530")
    pi.ImportClient(f"{scheme}{'x' * 63}.{'y' * 63}:19530").close()  # at the limits: fine


# ------------------------------------------------------------------------------------------ errors and values
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=20)
PROGRESS = st.builds(
    pi.ImportProgress,
    job_id=TEXT,
    state=st.sampled_from(["Pending", "Importing", "Completed", "Failed"]),
    progress=st.integers(0, 100),
    imported_rows=st.integers(0, 2**63),
    reason=TEXT,
    create_time=st.none() | st.datetimes(),
    raw_state=TEXT,
    infos=st.dictionaries(TEXT, TEXT, max_size=3),
)
RESPONSE = st.builds(
    pi.BulkImportResponse,
    status=st.integers(),
    message=TEXT,
    data=st.builds(pi.BulkImportData, job_id=TEXT, job_ids=st.lists(TEXT, max_size=3).map(tuple)),
)
PLANNED = st.builds(
    pi.PlannedImport,
    collection_name=TEXT,
    partition_name=TEXT,
    db_name=TEXT,
    files=st.lists(TEXT, max_size=3).map(tuple),
    options=st.lists(st.tuples(TEXT, TEXT), max_size=3).map(tuple),
    idempotency_key=TEXT,
)
#: How to fill each constructor parameter of the public errors and result types, by name (an error's ``progress``
#: is the jobs' states, a result's ``progress`` a percentage). A parameter not named here fails the test below.
ERROR_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "value": contract.arbitrary(),  # anything: the error keeps a plain description
    "code": st.none() | st.sampled_from(list(grpc.StatusCode)),
    "status": st.integers(),
    "retriable": st.booleans(),
    "response": RESPONSE,
    "progress": st.lists(PROGRESS, max_size=2),
    "keys": st.lists(TEXT, max_size=3),
    "local_files": st.lists(TEXT, max_size=3),
    "staged_keys": st.lists(TEXT, max_size=3),
    "key": st.none() | TEXT,
    "problems": st.lists(st.tuples(TEXT, st.none() | TEXT, TEXT), max_size=2),
    "report": st.none()
    | st.builds(
        pi.FileReport,
        verdicts=st.lists(
            st.builds(pi.FileVerdict, file=TEXT, group_index=st.integers(0, 9), format=TEXT, status=TEXT), max_size=2
        ).map(tuple),
    ),
}
STAGED = st.builds(
    pi.StagedFiles,
    bucket=TEXT,
    groups=st.lists(st.lists(TEXT, min_size=1, max_size=2).map(tuple), max_size=2).map(tuple),
    uploaded=st.lists(TEXT, max_size=3).map(tuple),
    skipped=st.lists(TEXT, max_size=3).map(tuple),
    bytes_uploaded=st.integers(0, 2**63),
    dry_run=st.booleans(),
)
VALUE_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "progress": st.integers(0, 100),
    "status": st.integers(),
    "imported_rows": st.none() | st.integers(0, 2**63),
    "create_time": st.none() | st.datetimes(),
    "infos": st.dictionaries(TEXT, TEXT, max_size=3),
    "job_ids": st.lists(TEXT, max_size=3).map(tuple),
    "data": st.builds(
        pi.BulkImportData,
        job_id=TEXT,
        job_ids=st.lists(TEXT, max_size=3).map(tuple),
        files=st.lists(st.lists(TEXT, min_size=1, max_size=2).map(tuple), max_size=2).map(tuple),
        staged_keys=st.lists(TEXT, max_size=3).map(tuple),
        staged=st.none() | STAGED,
    ),
    "authenticated": st.booleans(),
    "schema_checked": st.booleans(),
    "requests": st.lists(PLANNED, max_size=2).map(tuple),
    "files": st.lists(TEXT, max_size=3).map(tuple),
    "options": st.lists(st.tuples(TEXT, TEXT), max_size=3).map(tuple),
    "job_id": st.none() | TEXT,
    "groups": st.lists(st.lists(TEXT, max_size=2).map(tuple), max_size=2).map(tuple),
    "uploaded": st.lists(TEXT, max_size=3).map(tuple),
    "skipped": st.lists(TEXT, max_size=3).map(tuple),
    "staged_keys": st.lists(TEXT, max_size=3).map(tuple),
    "bytes_uploaded": st.integers(0, 2**63),
    "dry_run": st.booleans(),
    "staged": st.none() | STAGED,
    "bytes_done": st.integers(0, 2**63),
    "bytes_total": st.integers(0, 2**63),
    "files_done": st.integers(0, 2**31),
    "files_total": st.integers(0, 2**31),
    "outcome": st.sampled_from(["present", "missing", "empty", "unverified"]),
    "full": st.booleans(),
    "group_index": st.integers(0, 2**31),
    "problems": st.lists(st.builds(pi.FileProblem, file=TEXT, field=st.none() | TEXT, message=TEXT), max_size=2).map(
        tuple
    ),
    "verdicts": st.lists(
        st.builds(pi.FileVerdict, file=TEXT, group_index=st.integers(0, 9), format=TEXT, status=TEXT, detail=TEXT),
        max_size=2,
    ).map(tuple),
}
TEXT_PARAMETERS = {
    *("message", "details", "target", "method", "server_message", "job_id", "reason", "collection_name"),
    *("db_name", "partition_name", "file", "field_name", "suggestion", "server_version", "field", "state"),
    *("raw_state", "idempotency_key", "bucket", "key", "format", "status", "detail"),
}
RESULT_TYPES = sorted(  # Source is an interface (a caller's file source implements it), not a value to build
    name
    for name, obj in contract.public_callables().items()
    if (contract.is_error_class(obj) or contract.is_value_class(obj)) and obj is not pi.Source
)


@pytest.mark.parametrize("name", RESULT_TYPES)
def test_every_error_and_result_type_round_trips_with_what_it_holds(name: str, pool: ProcessPoolExecutor) -> None:
    """Each public error and result type, built with any values its parameters take (texts with surrogates and
    control characters, any ``value``), survives pickle, deepcopy and a process pool with its str and attributes."""
    cls = getattr(pi, name)
    table = ERROR_ARGUMENTS if contract.is_error_class(cls) else VALUE_ARGUMENTS
    strategies = {}
    for parameter in contract.parameters(cls):
        strategy = table.get(parameter, TEXT if parameter in TEXT_PARAMETERS else None)
        assert strategy is not None, f"{name}({parameter}=...): say how to fill it in ERROR/VALUE_ARGUMENTS"
        strategies[parameter] = strategy
    verdicts = Verdicts(server=None)

    @GENERATED
    @given(arguments=st.fixed_dictionaries(strategies))
    def built(arguments: dict[str, Any]) -> None:
        verdicts.call(f"{name}(...)", cls, arguments, None, None)  # type: ignore[arg-type]

    built()
    verdicts.through_pool(pool)
    assert not verdicts.failures, verdicts.report()
