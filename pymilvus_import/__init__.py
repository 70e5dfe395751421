"""pymilvus-import: gRPC-native Milvus bulk import.

from pymilvus_import import new_bulk_import_option, bulk_import

option = new_bulk_import_option("http://localhost:19530", "books", [["/data/books.json"]]).with_partition("p1")
response = bulk_import(option, timeout=30)
print(response.data.job_id)
"""

from typing import TYPE_CHECKING, Any

# isort: off
from ._cli import _verbosity  # noqa: F401  first, before gRPC loads: the milvus-import command keeps it quiet

# isort: on
from ._api import bulk_import, get_import_progress, list_import_jobs, wait_for_import
from ._client import AsyncImportClient, ImportClient
from ._errors import (
    AuthenticationError,
    BulkImportError,
    ClientClosedError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    DeadlineExceededError,
    EmptyObjectError,
    FileMismatchError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidCollectionNameError,
    InvalidInputError,
    MalformedReplyError,
    MilvusImportError,
    ObjectNotFoundError,
    PartitionNotFoundError,
    PermissionDeniedError,
    PreflightError,
    RateLimitedError,
    SchemaMismatchError,
    ServerError,
    ServerInvalidArgumentError,
    ServerUnavailableError,
    StagingInterruptedError,
    StorageError,
    TransportError,
    UnsupportedByServerError,
    WrongEventLoopError,
)
from ._models import BulkImportData, BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption, new_bulk_import_option
from ._retry import Retry

__version__ = "0.1.0"

__all__ = [
    "AsyncImportClient",
    "AuthenticationError",
    "BulkImportData",
    "BulkImportError",
    "BulkImportOption",
    "BulkImportResponse",
    "ClientClosedError",
    "CollectionNotFoundError",
    "DatabaseNotFoundError",
    "DeadlineExceededError",
    "EmptyObjectError",
    "FileMismatchError",
    "FileProblem",
    "FileReport",
    "FileVerdict",
    "ImportClient",
    "ImportFailedError",
    "ImportJobNotFoundError",
    "ImportJobRecord",
    "ImportPlan",
    "ImportProgress",
    "ImportTimeoutError",
    "InvalidCollectionNameError",
    "InvalidInputError",
    "LocalFile",
    "MalformedReplyError",
    "MilvusImportError",
    "KeyCheck",
    "ObjectNotFoundError",
    "ObjectStorage",
    "PartitionNotFoundError",
    "PermissionDeniedError",
    "PlannedImport",
    "PreflightError",
    "RateLimitedError",
    "Retry",
    "SchemaMismatchError",
    "Source",
    "ServerError",
    "ServerInvalidArgumentError",
    "ServerUnavailableError",
    "StagedFiles",
    "StagingInterruptedError",
    "StagingProgress",
    "StorageError",
    "TransportError",
    "UnsupportedByServerError",
    "WrongEventLoopError",
    "bulk_import",
    "get_import_progress",
    "list_import_jobs",
    "new_bulk_import_option",
    "stage_files",
    "stage_files_async",
    "verify_keys",
    "wait_for_import",
]

if TYPE_CHECKING:
    from ._files.check import FileProblem, FileReport, FileVerdict
    from ._files.source import LocalFile, Source
    from ._plan import ImportPlan, PlannedImport
    from ._storage import (
        KeyCheck,
        ObjectStorage,
        StagedFiles,
        StagingProgress,
        stage_files,
        stage_files_async,
        verify_keys,
    )

# Names that load on first use, so ``import pymilvus_import`` reads no dry-run, file-check or storage code: the
# dry-run values (two frozen dataclasses cost ~2 ms at import, see _plan.py), the file checks and object storage
# (the storage library itself loads later still, on the first request).
_LAZY = {
    "ImportPlan": "_plan",
    "PlannedImport": "_plan",
    "FileProblem": "_files.check",
    "FileReport": "_files.check",
    "FileVerdict": "_files.check",
    "LocalFile": "_files.source",
    "Source": "_files.source",
    **dict.fromkeys(
        (
            "KeyCheck",
            "ObjectStorage",
            "StagedFiles",
            "StagingProgress",
            "stage_files",
            "stage_files_async",
            "verify_keys",
        ),
        "_storage",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
