"""pymilvus-import: gRPC-native Milvus bulk import.

from pymilvus_import import new_bulk_import_option, bulk_import

option = new_bulk_import_option("http://localhost:19530", "books", [["/data/books.json"]]).with_partition("p1")
response = bulk_import(option, timeout=30)
print(response.data.job_id)
"""

from typing import TYPE_CHECKING, Any

from ._client import ImportClient, bulk_import, get_import_progress, list_import_jobs, wait_for_import
from ._core import Retry
from ._errors import (
    AuthenticationError,
    BulkImportError,
    DeadlineExceededError,
    ImportFailed,
    ImportJobNotFound,
    ImportTimeout,
    InvalidArgumentError,
    InvalidInputError,
    MalformedReplyError,
    MilvusImportError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServerUnavailableError,
    TransportError,
)
from ._models import BulkImportData, BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption, new_bulk_import_option

__version__ = "0.1.0"

__all__ = [
    "AsyncImportClient",
    "AuthenticationError",
    "BulkImportData",
    "BulkImportError",
    "BulkImportOption",
    "BulkImportResponse",
    "DeadlineExceededError",
    "ImportClient",
    "ImportFailed",
    "ImportJobRecord",
    "ImportProgress",
    "ImportJobNotFound",
    "ImportTimeout",
    "InvalidArgumentError",
    "InvalidInputError",
    "MalformedReplyError",
    "MilvusImportError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Retry",
    "ServerError",
    "ServerUnavailableError",
    "TransportError",
    "bulk_import",
    "get_import_progress",
    "list_import_jobs",
    "wait_for_import",
    "new_bulk_import_option",
]


if TYPE_CHECKING:
    from ._aio import AsyncImportClient


def __getattr__(name: str) -> Any:
    # AsyncImportClient pulls in asyncio and grpc.aio (~30 ms); sync users should not pay for that at import.
    if name == "AsyncImportClient":
        from ._aio import AsyncImportClient

        globals()[name] = AsyncImportClient
        return AsyncImportClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
