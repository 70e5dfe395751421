"""The values pymilvus-import returns: frozen dataclasses shaped like the Go SDK and the REST API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True)
class BulkImportData:
    """``data`` of a :class:`BulkImportResponse`: the first job id and every job id, in file-group order."""

    job_id: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class BulkImportResponse:
    """The result of ``bulk_import``, like Go's ``BulkImportResponse``.

    ``status`` is 0 and ``message`` empty on success (failures raise :class:`BulkImportError`, whose ``response``
    carries this object). ``data.job_ids`` has one id per file group on Milvus 2.4+; Milvus 2.3 may answer several
    task ids for one group, and all of them are kept, in order.
    """

    status: int
    message: str
    data: BulkImportData

    @property
    def job_id(self) -> str:
        return self.data.job_id

    @property
    def job_ids(self) -> tuple[str, ...]:
        return self.data.job_ids

    def to_dict(self) -> dict[str, Any]:
        """The Go SDK's JSON shape: ``{"status": 0, "message": "", "data": {"jobId": "..."}}``."""
        return {"status": self.status, "message": self.message, "data": {"jobId": self.data.job_id}}


@dataclass(frozen=True)
class ImportProgress:
    """Where one import job stands, in the state names users know from the REST API.

    ``state`` is one of ``Pending``, ``Importing``, ``Completed``, ``Failed``; ``raw_state`` is the server's enum
    name (e.g. ``ImportPersisted`` on Milvus 2.3). ``progress`` is 0-100, ``reason`` the server's failure reason
    (empty otherwise), ``infos`` the remaining key/values the server sent. ``job_id`` is always the id that was
    asked for (Milvus 2.4+ answers id 0).
    """

    job_id: str
    state: str
    progress: int
    imported_rows: int
    reason: str
    create_time: datetime | None
    raw_state: str
    infos: Mapping[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in (COMPLETED, FAILED)


@dataclass(frozen=True)
class ImportJobRecord:
    """One entry of ``list_import_jobs``. ``job_id`` is None where the server does not say it (Milvus 2.4+
    answers id 0 for every listed job)."""

    job_id: str | None
    collection_name: str
    state: str
    progress: int
    reason: str
    imported_rows: int | None
    raw_state: str


PENDING, IMPORTING, COMPLETED, FAILED = "Pending", "Importing", "Completed", "Failed"
