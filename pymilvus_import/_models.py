"""The values pymilvus-import returns: frozen dataclasses shaped like the Go SDK and the REST API.

Every value here can be pickled, copied, hashed and turned into a dict with ``dataclasses.asdict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from datetime import datetime

    from ._storage import StagedFiles

PENDING, IMPORTING, COMPLETED, FAILED = "Pending", "Importing", "Completed", "Failed"


class FrozenInfos(dict[str, str]):
    """The server's extra key/values of a job: a read-only, hashable ``dict`` (so results stay immutable values
    that pickle, copy and ``asdict`` handle like a plain dict)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(items)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("job infos are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenInfos, (dict(self),))


@dataclass(frozen=True)
class BulkImportData:
    """``data`` of a :class:`BulkImportResponse`: the first job id and every job id, in file-group order.

    With ``storage`` (and ``upload=True``) also what went into the bucket: ``files`` are the file groups the
    Imports carried (object keys of Milvus's bucket, in the option's shape: a staged local file replaced by its key)
    and ``staged_keys`` the keys staged by this call (uploaded now or found already there), the same as an error's
    ``staged_keys``. Both are empty without ``storage``. ``staged`` is what staging did with ``upload=True`` (the
    :class:`StagedFiles`: uploaded, already there, bytes sent), None otherwise."""

    job_id: str
    job_ids: tuple[str, ...]
    files: tuple[tuple[str, ...], ...] = ()
    staged_keys: tuple[str, ...] = ()
    staged: StagedFiles | None = None


@dataclass(frozen=True)
class BulkImportResponse:
    """The result of ``bulk_import``, like Go's ``BulkImportResponse``.

    A returned response always has ``status`` 0 and an empty ``message``: a refusal is *raised* as
    :class:`BulkImportError`, whose ``response`` carries the server's status. ``data.job_ids`` has one id per file
    group on Milvus 2.4+; Milvus 2.3 may answer several task ids for one group, and all of them are kept, in order.
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

    @property
    def files(self) -> tuple[tuple[str, ...], ...]:
        """The key groups the Imports carried, with ``storage`` (empty without)."""
        return self.data.files

    @property
    def staged_keys(self) -> tuple[str, ...]:
        """The keys staged by this call with ``upload=True`` (empty otherwise)."""
        return self.data.staged_keys

    @property
    def staged(self) -> StagedFiles | None:
        """What staging did with ``upload=True`` (uploaded, already there, bytes sent); None otherwise."""
        return self.data.staged

    def to_dict(self) -> dict[str, Any]:
        """The Go SDK's JSON shape, plus every job id: ``{"status": 0, "message": "", "data": {"jobId": "1",
        "jobIds": ["1", "2"]}}`` (``jobId`` is the first; a Go-style caller reading only it would miss groups 2..N).
        With ``storage``, ``data`` also has ``files`` (the key groups imported) and ``stagedKeys``."""
        data: dict[str, Any] = {"jobId": self.data.job_id, "jobIds": list(self.data.job_ids)}
        if self.data.files:
            data["files"] = [list(g) for g in self.data.files]
            data["stagedKeys"] = list(self.data.staged_keys)
        return {"status": self.status, "message": self.message, "data": data}


@dataclass(frozen=True)
class ImportProgress:
    """Where one import job stands, in the state names users know from the REST API.

    ``state`` is one of ``Pending``, ``Importing``, ``Completed``, ``Failed``; ``raw_state`` is the server's enum
    name (e.g. ``ImportPersisted`` on Milvus 2.3). ``progress`` is 0-100, ``reason`` the server's failure reason
    (empty otherwise), ``infos`` the remaining key/values the server sent (read-only). ``job_id`` is always the id
    that was asked for (Milvus 2.4+ answers id 0).
    """

    job_id: str
    state: str
    progress: int
    imported_rows: int
    reason: str
    create_time: datetime | None
    raw_state: str
    infos: Mapping[str, str] = field(default_factory=FrozenInfos)

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
