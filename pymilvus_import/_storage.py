"""Files where Milvus reads them: the bucket Milvus imports from, staging local files into it, verifying keys.

Milvus imports **object keys inside its own bucket** (``minio.bucketName``), not paths on the caller's machine.
This module is the only one that imports the object-store library (``obstore``, the ``storage`` extra, loaded on
first use); its errors are mapped here, so callers see package errors only.

Pure parts (no I/O): :class:`ObjectStorage` (the bucket, as an immutable value), :func:`normalize_key`,
:func:`staged_key`, :func:`plan_uploads` (what to send, what to skip) and :func:`key_verdicts` (what a HEAD means).
Effects: hashing local files (:func:`hash_local_files`), HEAD requests (:func:`head_objects`, :func:`head_keys`) and
multipart uploads (:func:`upload_files`), each run as a ``Work`` effect of a flow: :func:`plan_staging_flow` and
:func:`upload_flow` are the staging steps of both :func:`stage_files` (:func:`stage_flow`, run by
``_transport.run_work``) and ``bulk_import(..., upload=True)`` (``_import_flow.Staging``).

Staged files go to ``PREFIX/<sha256 of the content>/<file name>`` (the file name is kept: a NumPy file's stem is its
field name). The digest is also kept in the object's metadata (``x-amz-meta-pmi-sha256`` on S3, ``x-ms-meta-pmisha256``
on Azure, whose metadata names must be identifiers; an ETag is not a digest for multipart uploads), so a file already
there with the same size and digest is not sent again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import inspect
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from ._effects import Flow, Work
from ._errors import (
    EmptyObjectError,
    InvalidInputError,
    ObjectNotFoundError,
    StagingInterruptedError,
    StorageError,
)
from ._inputs import fspath_of, items_of
from ._secrets import describe, shown
from ._uri import mask_uri

if TYPE_CHECKING:
    import io

__all__ = [
    "AZURE_DIGEST_METADATA",
    "DIGEST_METADATA",
    "digest_metadata",
    "KeyCheck",
    "ObjectStorage",
    "StagedFiles",
    "StagingProgress",
    "key_check",
    "key_verdicts",
    "unchanged",
    "normalize_key",
    "plan_uploads",
    "stage_files",
    "staged_key",
    "verify_keys",
]

_T = TypeVar("_T")

#: Object metadata entry (``x-amz-meta-<this>``) holding the hex SHA-256 of the content.
DIGEST_METADATA = "pmi-sha256"
#: The same entry on Azure (``x-ms-meta-<this>``): Azure metadata names must be C# identifiers, so no "-" (Azurite
#: answers 400 InvalidMetadata to ``pmi-sha256``, as Azure does).
AZURE_DIGEST_METADATA = "pmisha256"
#: Where staged files go when the URL or config gives no prefix.
DEFAULT_PREFIX = "milvus-import"
#: Multipart part size: memory per file in flight is ``PART_SIZE * PARTS_IN_FLIGHT``.
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 8
FILES_IN_FLIGHT = 4
HEADS_IN_FLIGHT = 16
#: A file this size or smaller goes in one PUT (atomic: a failure leaves no object, and no multipart upload to abort)
#: instead of a multipart upload (create + parts + complete: three round trips at least). It is held in memory
#: while sent, so it is no more than the memory one multipart upload in flight may hold.
SINGLE_PUT_MAX = 2 * PART_SIZE
#: The largest object each service takes in one PUT: S3 5 GiB, GCS 5 TiB (a single upload), Azure Put Blob 5000 MiB
#: (256 MiB before service version 2019-12-12; Azurite follows the newer limit). :data:`SINGLE_PUT_MAX` is under all.
_SINGLE_PUT_LIMIT = {"s3": 5 * 1024**3, "gs": 5 * 1024**4, "az": 5000 * 1024 * 1024}
#: Memory for the uploads in flight, in ``PART_SIZE`` slots: what ``FILES_IN_FLIGHT`` multipart uploads may hold.
#: Files that go in one PUT hold fewer slots, so more of them go at once (:func:`upload_slots`).
UPLOAD_SLOTS = FILES_IN_FLIGHT * PARTS_IN_FLIGHT
#: A file last changed at least this long (seconds) before staging is not hashed again as it is sent: a stat after
#: its upload shows whether it changed (:func:`settled`).
SETTLED_S = 3.0
_HASH_BLOCK = 1024 * 1024

_SCHEMES = ("s3", "gs", "az")
# S3's bucket naming rules (also fine for GCS buckets and Azure containers): 3-63 of [a-z0-9.-], starting and
# ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
#: Where unset arguments come from, per scheme (gs:// takes none of them: see ObjectStorage).
_ENV: dict[str, dict[str, str]] = {
    "s3": {
        "access_key": "AWS_ACCESS_KEY_ID",
        "secret_key": "AWS_SECRET_ACCESS_KEY",
        "session_token": "AWS_SESSION_TOKEN",
        "region": "AWS_REGION",
        "endpoint": "AWS_ENDPOINT_URL",
    },
    "az": {
        "access_key": "AZURE_STORAGE_ACCOUNT_NAME",
        "secret_key": "AZURE_STORAGE_ACCOUNT_KEY",
        "endpoint": "AZURE_STORAGE_ENDPOINT",
    },
    "gs": {},
}
#: The arguments each scheme uses; any other one given is refused (it would be ignored).
_USED = {
    "s3": frozenset(_ENV["s3"]),
    "az": frozenset(_ENV["az"]),
    "gs": frozenset(),
}


def digest_metadata(scheme: str) -> str:
    """The metadata entry that holds the content digest of a staged object, for a storage of ``scheme``. Pure."""
    return AZURE_DIGEST_METADATA if scheme == "az" else DIGEST_METADATA


def _check_azure_key(key: str) -> None:
    """An Azure storage account key is base64 text (of 64 bytes for a real account); refused without showing it
    (nor chaining an exception that holds it)."""
    if not _is_base64(key):
        raise InvalidInputError(
            "for az:// the secret_key is the storage account key, which is base64 text; the one given is not "
            "(value not shown)",
            value=None,
            field="secret_key",
        )


def _is_base64(text: str) -> bool:
    import base64
    import binascii

    if not text.isascii():
        return False
    try:
        base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


#: What each scheme takes, for the error naming an argument it does not use.
_USES = {
    "s3": "it takes endpoint, access_key, secret_key, session_token, region and virtual_hosted_style",
    "az": "it takes access_key (the storage account name), secret_key (the account key) and endpoint",
    "gs": "it takes no argument: gs:// is accepted but not tested, with the library's own Google credentials",
}
#: How the two halves of a credential are called, per scheme.
_NAMES = {
    "s3": ("access key", "secret key"),
    "az": ("account name (access_key)", "account key (secret_key)"),
    "gs": ("access key", "secret key"),
}


def _mask(value: str | None) -> str | None:
    """An access key id shows its first 4 characters, nothing more (it is often sent along with its secret)."""
    if value is None:
        return None
    return value[:4] + "***" if len(value) > 8 else "***"


def _mask_url(url: str) -> str:
    """``url`` as shown: the one masking rule for URLs (:func:`_uri.mask_uri`: user info up to the last "@", query
    values, fragment), so a password holding "/", "?" or "@" is hidden too."""
    return mask_uri(str.__str__(url))


def _check_endpoint(endpoint: str) -> None:
    """An ``http(s)://HOST[:PORT]`` URL that reads back as written (a "@" outside the user info means a password
    with an unencoded "/", "?" or "#"; whitespace and control characters are dropped by urlsplit); refused naming
    only the masked value."""
    try:
        parts = urlsplit(endpoint)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number, or out of range, raises ValueError
    except ValueError:
        usable = False
    else:
        misread = "@" in parts.path + parts.query + parts.fragment  # or urlsplit drops tabs and newlines:
        usable = usable and not misread and endpoint.isprintable() and not any(c.isspace() for c in endpoint)
    if not usable:
        raise InvalidInputError(
            f"storage endpoint must be an http:// or https:// URL (percent-encode special characters of a password),"
            f" got {_mask_url(endpoint)!r}",
            value=_mask_url(endpoint),
            field="endpoint",
        )


@dataclass(frozen=True, repr=False)
class ObjectStorage:
    """The bucket Milvus reads import files from (``minio.bucketName``), and where staged files go in it.

    ``url`` is ``s3://BUCKET/PREFIX``, ``az://CONTAINER/PREFIX`` or ``gs://BUCKET/PREFIX``. ``PREFIX`` is where
    :func:`stage_files` puts files (default ``milvus-import``).

    - ``s3://``: unset arguments come from ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
      ``AWS_SESSION_TOKEN`` and ``AWS_REGION`` when the value is built.
    - ``az://``: ``access_key`` is the storage account name, ``secret_key`` its account key (base64), ``endpoint``
      the Blob service URL (default ``https://ACCOUNT.blob.core.windows.net``; for Azurite
      ``http://HOST:PORT/ACCOUNT``); unset ones come from ``AZURE_STORAGE_ACCOUNT_NAME``,
      ``AZURE_STORAGE_ACCOUNT_KEY`` and ``AZURE_STORAGE_ENDPOINT``. ``session_token``, ``region`` and
      ``virtual_hosted_style`` are refused (Azure has no such setting here).
    - ``gs://``: accepted but not tested (no emulator here speaks the API the library uses); it takes no argument.

    An immutable value: secrets are never shown (repr, str, errors). Raises :class:`InvalidInputError` for a URL that
    is not ``SCHEME://BUCKET[/PREFIX]`` or an argument its scheme does not use.
    """

    url: str
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    virtual_hosted_style: bool = False
    scheme: str = field(init=False)
    bucket: str = field(init=False)
    prefix: str = field(init=False)

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        virtual_hosted_style: bool = False,
    ) -> None:
        scheme, bucket, prefix = _parse_url(url)
        given = {
            "endpoint": endpoint,
            "access_key": access_key,
            "secret_key": secret_key,
            "session_token": session_token,
            "region": region,
        }
        for name, value in given.items():
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(
                    f"ObjectStorage {name} must be a str, not {type(value).__name__}", value=None, field=name
                )
            if value is not None:
                given[name] = str.__str__(value)  # a plain str: a subclass's own methods never run later
                if name not in _USED[scheme]:
                    raise InvalidInputError(
                        f"ObjectStorage {name} is not used for {scheme}:// URLs ({_USES[scheme]})",
                        value=None,
                        field=name,
                    )
            if value is None and name in _ENV[scheme]:
                given[name] = os.environ.get(_ENV[scheme][name]) or None
        if given["endpoint"] is not None:
            _check_endpoint(given["endpoint"])
        if type(virtual_hosted_style) is not bool:
            raise InvalidInputError(
                f"ObjectStorage virtual_hosted_style must be True or False, not {type(virtual_hosted_style).__name__}",
                value=describe(virtual_hosted_style),
                field="virtual_hosted_style",
            )
        if virtual_hosted_style and scheme != "s3":
            raise InvalidInputError(
                f"ObjectStorage virtual_hosted_style is for s3:// URLs only, not {scheme}://",
                value=True,
                field="virtual_hosted_style",
            )
        if (given["access_key"] is None) != (given["secret_key"] is None):
            env = _ENV[scheme]
            missing = (
                f"secret_key ({env['secret_key']})"
                if given["secret_key"] is None
                else f"access_key ({env['access_key']})"
            )
            raise InvalidInputError(
                f"storage credentials need both an {_NAMES[scheme][0]} and a {_NAMES[scheme][1]}; {missing} is missing",
                value=None,
                field=missing.split(" ")[0],
            )
        if scheme == "az":
            if given["access_key"] is None:
                raise InvalidInputError(
                    "az:// needs the storage account name and key: access_key= and secret_key= (or "
                    "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY)",
                    value=None,
                    field="access_key",
                )
            _check_azure_key(given["secret_key"] or "")
        object.__setattr__(self, "url", str.__str__(url))
        for name, value in given.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "virtual_hosted_style", virtual_hosted_style)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "bucket", bucket)
        object.__setattr__(self, "prefix", prefix)

    @classmethod
    def from_milvus_config(cls, path: str | os.PathLike[str], *, prefix: str = DEFAULT_PREFIX) -> ObjectStorage:
        """The bucket of a Milvus configured by the ``milvus.yaml`` at ``path`` (its ``minio:`` section: address,
        port, useSSL, bucketName, accessKeyID, secretAccessKey, region, useIAM, cloudProvider, useVirtualHost).

        Staged files go under ``prefix`` in that bucket (not under ``rootPath``, Milvus's own data). With ``useIAM``
        the keys of the file are ignored and the environment's credentials are used. Raises
        :class:`InvalidInputError` when the file cannot be read or has no usable ``minio:`` section."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read the Milvus config {str(path)!r}: {exc}", value=str(path)) from None
        section = yaml_section(text, "minio")
        bucket = section.get("bucketName")
        if not bucket:
            raise InvalidInputError(
                f"the Milvus config {str(path)!r} has no minio.bucketName", value=str(path), field="minio.bucketName"
            )
        if section.get("cloudProvider", "").lower() == "azure":
            # Milvus on Azure reads minio.* in its own way (account name, key, endpoint suffix); not mapped here.
            raise InvalidInputError(
                f"the Milvus config {str(path)!r} uses Azure (minio.cloudProvider: azure), which from_milvus_config "
                f"does not read: use ObjectStorage('az://{bucket}/{prefix.strip('/')}', access_key=ACCOUNT_NAME, "
                "secret_key=ACCOUNT_KEY)",
                value=str(path),
                field="minio.cloudProvider",
            )
        address = section.get("address") or "localhost"
        port = section.get("port") or ""
        secure = section.get("useSSL", "false").lower() == "true"
        endpoint = f"{'https' if secure else 'http'}://{address}{':' + port if port else ''}"
        use_iam = section.get("useIAM", "false").lower() == "true"
        virtual = section.get("useVirtualHost", "false").lower() == "true" or section.get("cloudProvider") == "aliyun"
        return cls(
            f"s3://{bucket}/{prefix.strip('/')}",
            endpoint=endpoint,
            access_key=None if use_iam else section.get("accessKeyID") or None,
            secret_key=None if use_iam else section.get("secretAccessKey") or None,
            region=section.get("region") or None,
            virtual_hosted_style=virtual,
        )

    def __repr__(self) -> str:
        parts = [repr(self.url)]
        if self.endpoint is not None:
            parts.append(f"endpoint={_mask_url(self.endpoint)!r}")
        if self.access_key is not None:
            parts.append(f"access_key={_mask(self.access_key)!r}")
        if self.secret_key is not None:
            parts.append("secret_key=***")
        if self.session_token is not None:
            parts.append("session_token=***")
        if self.region is not None:
            parts.append(f"region={self.region!r}")
        return f"ObjectStorage({', '.join(parts)})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_storage, (self.url, self._settings()))

    def _settings(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "session_token": self.session_token,
            "region": self.region,
            "virtual_hosted_style": self.virtual_hosted_style,
        }

    def _scrub(self, text: str) -> str:
        """``text`` with every secret of this value replaced by ***."""
        for secret in (self.secret_key, self.session_token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _rebuild_storage(url: str, settings: dict[str, Any]) -> ObjectStorage:
    return ObjectStorage(url, **settings)


def _parse_url(url: object) -> tuple[str, str, str]:
    if not isinstance(url, str):
        raise InvalidInputError(f"storage url must be a str like 's3://bucket/prefix', not {type(url).__name__}")
    url = str.__str__(url)  # a plain str: a subclass's own methods never run
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInputError(
            f"storage url must look like 's3://BUCKET/PREFIX', got {_mask_url(url)!r}",
            value=_mask_url(url),
            field="url",
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInputError(
            f"storage url must look like 's3://BUCKET/PREFIX' (also gs://, az://), got {_mask_url(url)!r}",
            value=_mask_url(url),
            field="url",
        )
    if "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidInputError(
            f"storage url must name only a bucket (credentials and endpoint are separate arguments), "
            f"got {_mask_url(url)!r}",
            value=_mask_url(url),
            field="url",
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise InvalidInputError(
            f"{bucket!r} is not a valid bucket name (3-63 lower-case letters, digits, '.' or '-')",
            value=bucket,
            field="url",
        )
    prefix = parts.path.strip("/")
    if "//" in prefix or any(seg in (".", "..") for seg in prefix.split("/")):
        raise InvalidInputError(f"storage prefix {prefix!r} has an empty, '.' or '..' segment", value=prefix)
    return scheme, bucket, prefix or DEFAULT_PREFIX


def yaml_section(text: str, name: str) -> dict[str, str]:
    """The scalar ``key: value`` entries of the top-level mapping ``name:`` of a YAML document such as
    ``milvus.yaml`` (comments and quotes removed; nested mappings and lists skipped). Pure."""
    entries: dict[str, str] = {}
    inside = False
    indent: int | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if depth == 0:
            inside = stripped.split("#", 1)[0].strip() == f"{name}:"
            indent = None
            continue
        if not inside:
            continue
        if indent is None:
            indent = depth
        if depth != indent or ":" not in stripped:
            continue
        key, _, value = stripped.partition(":")
        entries[key.strip()] = _yaml_scalar(value)
    return entries


def _yaml_scalar(value: str) -> str:
    value = value.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    return re.split(r"\s+#", value, maxsplit=1)[0].strip() if value and not value.startswith("#") else ""


# -- keys (pure) ---------------------------------------------------------------------------------------------------


def normalize_key(storage: ObjectStorage, path: str) -> str:
    """The object key Milvus would read for ``path``: ``s3://BUCKET/key`` and ``BUCKET/key`` of the storage's
    bucket become ``key``; any other string is already a key. ``s3://OTHER/key`` raises
    :class:`InvalidInputError`: Milvus reads only its own bucket. Pure."""
    text = os.fspath(path)
    parts = urlsplit(text) if "://" in text else None
    if parts is not None and parts.scheme.lower() in _SCHEMES:
        if parts.netloc != storage.bucket:
            raise InvalidInputError(
                f"{text!r} is in bucket {parts.netloc!r}, but Milvus reads import files only from its own bucket "
                f"{storage.bucket!r}: copy the file there (or stage it) and pass its key",
                value=text,
                field="files",
            )
        return parts.path.lstrip("/")
    head, sep, rest = text.partition("/")
    if sep and head == storage.bucket and rest:
        return rest
    return text


def staged_key(prefix: str, digest: str, name: str) -> str:
    """Where a file with content digest ``digest`` named ``name`` is staged: ``prefix/digest/name``. Pure."""
    return f"{prefix}/{digest}/{name}" if prefix else f"{digest}/{name}"


@dataclass(frozen=True)
class LocalFile:
    """A local file to stage: its path, size and content digest (hex SHA-256), and its modification and status
    change times (``os.stat``'s ``st_mtime_ns``/``st_ctime_ns``, None when not known) when it was looked at, to see
    a change before it is sent. ``settled``: it was last changed long enough before staging started that any later
    write moves those times (see :func:`settled`), so its bytes are not hashed a second time as they are sent."""

    path: str
    size: int
    digest: str
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    settled: bool = False


def settled(mtime_ns: int, ctime_ns: int, now_ns: int) -> bool:
    """Pure: whether a file whose times are ``mtime_ns``/``ctime_ns`` at ``now_ns`` (before it is hashed) was last
    changed at least :data:`SETTLED_S` earlier. Then any write after that moves its mtime and ctime (file systems
    keep them to 2 s at worst, and nothing sets a ctime back), so a stat after the upload that finds both times and
    the size unchanged shows the bytes sent are the bytes hashed (not seen: a write through a shared memory map to a
    page still dirty from before, which moves no time until it is written back). A file changed more recently may be
    being written right now, in the same clock tick: its bytes are hashed again as they are sent."""
    return now_ns - max(mtime_ns, ctime_ns) >= SETTLED_S * 1_000_000_000


def unchanged(
    planned: LocalFile, size: int, mtime_ns: int, sent_digest: str | None, ctime_ns: int | None = None
) -> bool:
    """Pure: whether the file sent is still the one planned. ``size``/``mtime_ns``/``ctime_ns`` are a stat after
    the upload; ``sent_digest`` the SHA-256 of the bytes sent (None when they were not hashed: a settled file, or
    bytes read out of order). A file that changed between hashing and upload would put other content under its
    digest's key."""
    if sent_digest is not None and sent_digest != planned.digest:
        return False
    if planned.ctime_ns is not None and ctime_ns is not None and ctime_ns != planned.ctime_ns:
        return False
    return size == planned.size and (planned.mtime_ns is None or mtime_ns == planned.mtime_ns)


@dataclass(frozen=True)
class RemoteObject:
    """What a HEAD of a key said: its size and the digest in its metadata (None when it has none)."""

    size: int
    digest: str | None


def single_put(scheme: str, size: int) -> bool:
    """Pure: whether a file of ``size`` bytes is sent in one PUT on ``scheme`` (else a multipart upload)."""
    return size <= min(SINGLE_PUT_MAX, _SINGLE_PUT_LIMIT[scheme])


def upload_slots(scheme: str, size: int) -> int:
    """Pure: the memory a file's upload holds while in flight, in ``PART_SIZE`` slots of :data:`UPLOAD_SLOTS`: the
    whole file for one PUT, ``PARTS_IN_FLIGHT`` parts for a multipart upload."""
    return max(1, -(-size // PART_SIZE)) if single_put(scheme, size) else PARTS_IN_FLIGHT


def may_start(slots: int, free: int, in_flight: int) -> bool:
    """Pure: whether the next upload, holding ``slots`` (:func:`upload_slots`), starts now, with ``free`` slots of
    :data:`UPLOAD_SLOTS` left and ``in_flight`` uploads going: within that memory and ``HEADS_IN_FLIGHT`` files.
    With none in flight it always starts."""
    return in_flight == 0 or (in_flight < HEADS_IN_FLIGHT and slots <= free)


def plan_uploads(
    prefix: str, files: Sequence[LocalFile], remote: Mapping[str, RemoteObject | None]
) -> tuple[dict[str, str], list[LocalFile], list[LocalFile]]:
    """Pure staging decision: ``(key of each path, files to upload, files to skip)``. A file is skipped when its key
    holds an object of the same size whose metadata digest equals the file's; otherwise it is uploaded."""
    keys: dict[str, str] = {}
    upload: list[LocalFile] = []
    skip: list[LocalFile] = []
    seen: set[str] = set()
    for local in files:
        key = staged_key(prefix, local.digest, Path(local.path).name)
        keys[local.path] = key
        if key in seen:
            continue  # the same content under the same name twice: one upload
        seen.add(key)
        there = remote.get(key)
        if there is not None and there.size == local.size and there.digest == local.digest:
            skip.append(local)
        else:
            upload.append(local)
    return keys, upload, skip


# -- results -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedFiles:
    """What :func:`stage_files` did. ``groups`` are the object keys, in the same shape as the ``files`` given
    (pass them to ``new_bulk_import_option``); ``uploaded`` / ``skipped`` the keys sent now / found already there;
    ``bucket`` where they are."""

    bucket: str
    groups: tuple[tuple[str, ...], ...]
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int = 0
    #: True for a dry run: nothing was sent, ``uploaded`` lists what would be.
    dry_run: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for group in self.groups for key in group)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "groups": [list(g) for g in self.groups],
            "uploaded": list(self.uploaded),
            "skipped": list(self.skipped),
            "bytes_uploaded": self.bytes_uploaded,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class StagingProgress:
    """Passed to ``on_progress`` as bytes go out: totals of the files being uploaded (skipped ones not counted)."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int


@dataclass(frozen=True)
class KeyCheck:
    """The verdict on one key: ``present``, ``missing``, ``empty`` (the object is 0 bytes, which Milvus fails), or
    ``unverified`` (the storage credentials could not tell, e.g. 401/403: Milvus has its own credentials, so this is
    no verdict); ``reason`` says why when not present."""

    key: str
    outcome: Literal["present", "missing", "empty", "unverified"]
    reason: str = ""


def key_check(key: str, size: int | None) -> KeyCheck:
    """Pure: the verdict on ``key`` from what a HEAD said (``size`` None: no such object). Milvus stats the key
    first and fails a job for a missing key ("The specified key does not exist") and, on 2.3, for a 0-byte object
    ("the file '...' size is zero"; 2.4+ fails it with the format's end-of-file error)."""
    if size is None:
        return KeyCheck(key, "missing", "no such key")
    if size == 0:
        return KeyCheck(key, "empty", "the object is 0 bytes")
    return KeyCheck(key, "present")


def _shown(keys: Sequence[str]) -> str:
    return ", ".join(repr(k) for k in keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def key_verdicts(storage: ObjectStorage, checks: Sequence[KeyCheck], *, is_local_file: Callable[[str], bool]) -> None:
    """Pure: raise :class:`ObjectNotFoundError` naming every missing key (with a hint for keys that are files on
    this machine, and naming the empty ones too), else :class:`EmptyObjectError` naming every key whose object is
    0 bytes; ``unverified`` keys are not a verdict."""
    missing = [c.key for c in checks if c.outcome == "missing"]
    empty = [c.key for c in checks if c.outcome == "empty"]
    if not missing:
        if empty:
            raise EmptyObjectError(
                f"{len(empty)} file key(s) in Milvus's bucket {storage.bucket!r} hold an empty (0-byte) object: "
                f"{_shown(empty)}; Milvus fails such a job ('the file ... size is zero'): write the file's content "
                f"there (or stage the local file) and pass that key",
                keys=empty,
                bucket=storage.bucket,
            )
        return
    local = [k for k in missing if is_local_file(k)]
    message = (
        f"{len(missing)} file key(s) not found in Milvus's bucket {storage.bucket!r}: {_shown(missing)}; Milvus "
        f"imports object keys of its own bucket, and the job would fail with 'The specified key does not exist'"
    )
    if empty:
        message += f"; also empty (0-byte) objects, which Milvus fails: {_shown(empty)}"
    if local:
        message += (
            f". {', '.join(repr(k) for k in local[:3])} {'is a file' if len(local) == 1 else 'are files'} on this "
            f"machine: upload with stage_files(storage, files) or bulk_import(..., upload=True) "
            f"(CLI: milvus-import stage --storage {storage.scheme}://{storage.bucket}/{storage.prefix} FILE...)"
        )
    raise ObjectNotFoundError(message, keys=missing, bucket=storage.bucket, local_files=local)


def _local_file(key: str) -> bool:
    try:
        return os.path.isabs(key) and os.path.isfile(key)
    except (OSError, ValueError):
        return False


# -- local files (effects: stat, read) -----------------------------------------------------------------------------


def _check_groups(files: object) -> list[list[str]]:
    if isinstance(files, (str, bytes, os.PathLike)) or not isinstance(files, Iterable):
        raise InvalidInputError(
            "files must be a list of file groups, e.g. [['rows.json'], ['id.npy', 'vec.npy']]", value=files
        )
    groups: list[list[str]] = []
    for group in items_of(files, "files", "files"):
        if isinstance(group, (str, bytes, os.PathLike)) or not isinstance(group, Iterable):
            raise InvalidInputError(
                f"each file group must be a list of paths, got {shown(group)}: wrap it as [{shown(group)}]",
                value=group,
                field="files",
            )
        paths = []
        for path in items_of(group, "a file group", "files"):
            if not isinstance(path, (str, os.PathLike)):
                raise InvalidInputError(
                    f"a file path must be a str or os.PathLike, got {shown(path)}", value=path, field="files"
                )
            text = str.__str__(path) if isinstance(path, str) else fspath_of(path, "a file path", "files")
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"a file path must be text, got {type(text).__name__} from __fspath__", value=None, field="files"
                )
            paths.append(text)
        if not paths:
            raise InvalidInputError("a file group is empty", value=[])
        groups.append(paths)
    if not groups:
        raise InvalidInputError("no files to stage", value=[])
    return groups


def _stat_local(path: str) -> os.stat_result:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot stage {path!r}: {exc.strerror or exc}", value=path, field="files") from None
    if not os.path.isfile(path):
        raise InvalidInputError(f"cannot stage {path!r}: not a regular file", value=path, field="files")
    if info.st_size == 0:
        raise InvalidInputError(
            f"cannot stage {path!r}: the file is empty (Milvus fails an empty file: 'size is zero')",
            value=path,
            field="files",
        )
    return info


def _digest(path: str, cancel: threading.Event, started: Any = None, stat: os.stat_result | None = None) -> str:
    """The SHA-256 of the file at ``path``; with ``started`` (a HashingLocalFile the file check read through) and
    the file unchanged since (``stat``), the hash goes on from where the check's reads stopped."""
    sha, offset = hashlib.sha256(), 0
    state = started.digest_state(stat.st_size, stat.st_mtime_ns) if started is not None and stat is not None else None
    if state is not None:
        sha, offset = state
    with open(path, "rb") as f:
        f.seek(offset)
        while block := f.read(_HASH_BLOCK):
            if cancel.is_set():
                raise _Cancelled
            sha.update(block)
    return sha.hexdigest()


class _Cancelled(Exception):
    """Raised inside a worker when the call was interrupted or another upload failed."""


# -- the store (the only code touching obstore) ----------------------------------------------------------------


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:
        raise InvalidInputError(
            "object storage needs the 'storage' extra: pip install 'pymilvus-import[storage]' (it brings obstore)"
        ) from None
    return obstore


_STORES: dict[ObjectStorage, Any] = {}
_STORES_LOCK = threading.Lock()


def _store(storage: ObjectStorage) -> Any:
    with _STORES_LOCK:
        store = _STORES.get(storage)
        if store is not None:
            return store
    _obstore()
    from obstore.store import AzureStore, GCSStore, S3Store

    retry: Any = {"max_retries": 5}
    if storage.scheme == "gs":
        store = GCSStore(storage.bucket, prefix=None, retry_config=retry)
    elif storage.scheme == "az":
        az_options: Any = {}
        if storage.endpoint is not None and storage.endpoint.lower().startswith("http://"):
            az_options["allow_http"] = True
        az_config: dict[str, Any] = {"account_name": storage.access_key, "access_key": storage.secret_key}
        if storage.endpoint is not None:
            # Path style with the account in the path (Azurite's http://HOST:PORT/ACCOUNT) works as given.
            az_config["endpoint"] = storage.endpoint
        try:
            store = AzureStore(storage.bucket, prefix=None, client_options=az_options, retry_config=retry, **az_config)
        except Exception as exc:  # checked when the value was built; anything left is the library's word
            raise InvalidInputError(
                f"cannot use {storage!r}: {storage._scrub(_first_line(exc))}", value=None, field="url"
            ) from None
    else:
        options: Any = {}
        if storage.endpoint is not None and storage.endpoint.lower().startswith("http://"):
            options["allow_http"] = True
        config: dict[str, Any] = {"region": storage.region or "us-east-1"}
        if storage.endpoint is not None:
            config["endpoint"] = storage.endpoint
        if storage.access_key is not None:
            config["access_key_id"] = storage.access_key
            config["secret_access_key"] = storage.secret_key
        if storage.session_token is not None:
            config["session_token"] = storage.session_token
        store = S3Store(
            storage.bucket,
            virtual_hosted_style_request=storage.virtual_hosted_style,
            client_options=options,
            retry_config=retry,
            **config,
        )
    with _STORES_LOCK:
        _STORES[storage] = store
    return store


def _head(storage: ObjectStorage, store: Any, key: str) -> RemoteObject | KeyCheck | None:
    """HEAD ``key``: the object (size, digest), None when it does not exist, or a KeyCheck('unverified') when the
    storage would not say. Library errors end here."""
    obstore = _obstore()
    from obstore.exceptions import NotFoundError, PermissionDeniedError, UnauthenticatedError

    try:
        result = obstore.get(store, key, options={"head": True})
    except (NotFoundError, FileNotFoundError):  # obstore 0.12 raises the built-in one for a 404
        return None
    except (PermissionDeniedError, UnauthenticatedError) as exc:
        return KeyCheck(key, "unverified", f"the storage credentials may not read it ({type(exc).__name__})")
    except ValueError as exc:  # a key shape the library cannot send exactly (empty segment, ...)
        return KeyCheck(key, "unverified", f"cannot check this key shape: {storage._scrub(str(exc))}")
    except Exception as exc:
        return KeyCheck(key, "unverified", storage._scrub(_first_line(exc)))
    meta = result.meta
    digest = result.attributes.get(digest_metadata(storage.scheme))
    return RemoteObject(size=int(meta["size"]), digest=digest)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _exact_key(key: str) -> bool:
    """True when the library sends ``key`` unchanged (it strips leading/trailing '/' and refuses empty segments)."""
    return bool(key) and not key.startswith("/") and not key.endswith("/") and "//" not in key


def _check_keys(storage: object, keys: object) -> list[str]:
    """What :func:`verify_keys` takes, checked before any request: an ObjectStorage and an iterable of str keys."""
    if not isinstance(storage, ObjectStorage):
        raise InvalidInputError(f"storage must be an ObjectStorage, not {type(storage).__name__}", value=None)
    if isinstance(keys, (str, bytes, bytearray)) or not isinstance(keys, Iterable):
        raise InvalidInputError(
            f"keys must be a list of object keys (str), got {type(keys).__name__} {shown(keys)}",
            value=keys,
            field="keys",
        )
    items = items_of(keys, "keys", "keys")
    for key in items:
        if not isinstance(key, str):
            raise InvalidInputError(
                f"each key must be a str, got {type(key).__name__} {shown(key)}", value=key, field="keys"
            )
    return [str.__str__(key) for key in items]


def _check_key(storage: ObjectStorage, store: Any, key: str) -> KeyCheck:
    answer = _head(storage, store, key)
    if isinstance(answer, KeyCheck):
        return answer
    if answer is None and not _exact_key(key) and not _local_file(key):
        # What was asked is not exactly what Milvus will ask for: no verdict on a guess.
        return KeyCheck(key, "unverified", "the key has a leading/trailing '/' or an empty segment")
    return key_check(key, None if answer is None else answer.size)


# -- the effects: verification -------------------------------------------------------------------------------------


def verify_keys(storage: ObjectStorage, keys: Iterable[str]) -> tuple[KeyCheck, ...]:
    """HEAD every key in parallel; raise :class:`ObjectNotFoundError` when some are not in the bucket (naming them,
    with a hint for those that are local files), :class:`EmptyObjectError` when some hold 0 bytes. Keys the
    credentials cannot read (401/403), or that the storage did not answer, are ``unverified`` — never a refusal.
    Returns one :class:`KeyCheck` per distinct key, in order."""
    checks, local = head_keys(storage, _check_keys(storage, keys))
    key_verdicts(storage, checks, is_local_file=local.__contains__)
    return checks


# -- the effects: reading keys for the file checks (ranged reads) --------------------------------------------------


class StorageObject:
    """One key of the bucket as a file-check :class:`~._files.source.Source`: ``size()`` is the HEAD's, ``read``
    a ranged GET of exactly the bytes asked (the ``.npy`` header, the Parquet footer, the first bytes of a CSV or
    JSON file): the object is never downloaded whole for a header check. Storage errors become
    :class:`~._files.source.SourceUnreadable` (no verdict for the file)."""

    def __init__(self, storage: ObjectStorage, key: str, size: int) -> None:
        self.storage = storage
        self.key = key
        self.name = key
        self._size = size

    def __repr__(self) -> str:
        return f"StorageObject({self.storage.bucket!r}, {self.key!r}, {self._size} bytes)"

    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        from ._files.source import SourceUnreadable

        end = min(self._size, offset + max(0, length))
        if offset >= end:
            return b""
        obstore = _obstore()
        try:
            return bytes(obstore.get_range(_store(self.storage), self.key, start=offset, end=end))
        except Exception as exc:
            reason = self.storage._scrub(_first_line(exc))
            raise SourceUnreadable(
                f"cannot read key {self.key!r} of bucket {self.storage.bucket!r}: {reason}"
            ) from None


def open_key(storage: ObjectStorage, key: str) -> StorageObject:
    """HEAD ``key`` and return it as a :class:`StorageObject`; raise
    :class:`~._files.source.SourceUnreadable` (no verdict) when it is missing or the storage credentials cannot
    read it (401/403): whether a key exists is the key verification's verdict, not the file check's."""
    from ._files.source import SourceUnreadable

    answer = _head(storage, _store(storage), key)
    if isinstance(answer, RemoteObject):
        return StorageObject(storage, key, answer.size)
    if answer is None:
        raise SourceUnreadable(f"no key {key!r} in bucket {storage.bucket!r}")
    raise SourceUnreadable(f"cannot read key {key!r}: {answer.reason}")


def key_groups(storage: ObjectStorage, groups: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """Pure: the option's paths as the keys Milvus reads (:func:`normalize_key`, one object per call)."""
    _local, keys = split_for_upload(storage, groups, upload=False, is_local=is_upload_candidate)
    check_unique_keys(groups, keys)
    return tuple(tuple(keys[p] for p in g) for g in groups)


# -- the effects: staging ------------------------------------------------------------------------------------------


class _Progress:
    """Serialises byte counts from the upload threads into ``on_progress`` calls."""

    def __init__(self, callback: Callable[[StagingProgress], object] | None, total: int, files: int) -> None:
        self.callback = callback
        self.total = total
        self.files_total = files
        self.done = 0
        self.files_done = 0
        self.lock = threading.Lock()

    def add(self, n: int = 0, file_done: bool = False) -> None:
        with self.lock:
            self.done += n
            self.files_done += int(file_done)
            if self.callback is not None:
                self.callback(StagingProgress(self.done, self.total, self.files_done, self.files_total))


class _Reader:
    """A file as the library reads it for a multipart upload: counts bytes, hashes them as they go (the library
    reads in order; any other order leaves :attr:`digest` None), stops when the call is cancelled, and keeps the
    exception that stopped it (the library wraps it in an OSError)."""

    def __init__(self, path: str, progress: _Progress, cancel: threading.Event, *, hash_bytes: bool = True) -> None:
        self._file: io.BufferedReader = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._progress = progress
        self._cancel = cancel
        self._sha = hashlib.sha256()
        self._hashed = 0  # bytes hashed, from the start, in order
        self._in_order = hash_bytes  # without hashing, no digest of what was sent (the stat after decides)
        self.error: BaseException | None = None

    @property
    def digest(self) -> str | None:
        """SHA-256 of the bytes read, when they were read in order up to the end of the file; else None."""
        if not self._in_order or self._hashed != os.fstat(self._file.fileno()).st_size:
            return None
        return self._sha.hexdigest()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        try:
            if self._cancel.is_set():
                raise _Cancelled
            at = self._file.tell()
            data = self._file.read(size)
            if not self._in_order:
                pass
            elif at == self._hashed:
                self._sha.update(data)
                self._hashed += len(data)
            elif at + len(data) > self._hashed:
                self._in_order = False  # bytes past what was hashed, out of order: no digest of what was sent
            self._progress.add(len(data))  # an on_progress that raises stops the upload with its own error
        except BaseException as exc:  # KeyboardInterrupt included: remembered, then re-raised by the caller
            self.error = exc
            raise
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()


def _upload(
    storage: ObjectStorage, store: Any, key: str, local: LocalFile, progress: _Progress, cancel: threading.Event
) -> None:
    obstore = _obstore()
    if single_put(storage.scheme, local.size):
        _put_whole(storage, store, key, local, progress, cancel)
        return
    reader = _Reader(local.path, progress, cancel, hash_bytes=not local.settled)
    try:
        obstore.put(
            store,
            key,
            reader,
            attributes={digest_metadata(storage.scheme): local.digest},
            use_multipart=True,
            chunk_size=PART_SIZE,
            max_concurrency=PARTS_IN_FLIGHT,
        )
    except BaseException as exc:
        # One PUT is atomic, and the library aborts its multipart upload when the payload fails: nothing partial
        # is left.
        if reader.error is not None:
            raise reader.error from None
        raise _upload_failed(storage, key, local, exc) from None
    else:
        sent_digest = reader.digest
    finally:
        reader.close()
    after = os.stat(local.path)
    if not unchanged(local, after.st_size, after.st_mtime_ns, sent_digest, after.st_ctime_ns):
        _remove_changed(storage, store, key, local)
    progress.add(file_done=True)


def _upload_failed(storage: ObjectStorage, key: str, local: LocalFile, exc: BaseException) -> StorageError:
    """The error for an upload of ``local`` to ``key`` that the library failed (its message scrubbed of secrets)."""
    return StorageError(
        f"uploading {local.path!r} to {storage.scheme}://{storage.bucket}/{key} failed: "
        f"{storage._scrub(_first_line(exc))}",
        bucket=storage.bucket,
        key=key,
    )


def _put_whole(
    storage: ObjectStorage, store: Any, key: str, local: LocalFile, progress: _Progress, cancel: threading.Event
) -> None:
    """One PUT of the whole file, read into memory once (no reads back into Python from the library's threads):
    atomic, so a failure leaves no object; the bytes sent are hashed unless the file is settled."""
    if cancel.is_set():
        raise _Cancelled
    with open(local.path, "rb") as f:
        data = f.read(SINGLE_PUT_MAX + 1)
    progress.add(len(data))  # an on_progress that raises stops the upload with its own error, nothing sent
    try:
        _obstore().put(
            store, key, data, attributes={digest_metadata(storage.scheme): local.digest}, use_multipart=False
        )
    except Exception as exc:
        raise _upload_failed(storage, key, local, exc) from None
    sent_digest = None if local.settled else hashlib.sha256(data).hexdigest()
    after = os.stat(local.path)
    if len(data) != local.size or not unchanged(
        local, after.st_size, after.st_mtime_ns, sent_digest, after.st_ctime_ns
    ):
        _remove_changed(storage, store, key, local)
    progress.add(file_done=True)


def _remove_changed(storage: ObjectStorage, store: Any, key: str, local: LocalFile) -> None:
    """The file changed while it was staged: the object under its (stale) digest key is deleted, then
    :class:`StorageError` names the file."""
    where = f"{storage.scheme}://{storage.bucket}/{key}"
    try:
        _obstore().delete(store, key)
        left = f"the object written to {where} was deleted"
    except Exception as exc:
        left = f"deleting the object written to {where} failed ({storage._scrub(_first_line(exc))}): delete it"
    raise StorageError(
        f"{local.path!r} changed while it was staged (between hashing and the end of its upload), so its content "
        f"no longer matches the digest in its key; {left}. Stage it again once it is no longer being written",
        bucket=storage.bucket,
        key=key,
    )


def stage_files(
    storage: ObjectStorage,
    files: Iterable[Iterable[str | os.PathLike[str]]],
    *,
    on_progress: Callable[[StagingProgress], object] | None = None,
) -> StagedFiles:
    """Upload the local files of ``files`` (a list of file groups) into ``storage``'s bucket at
    ``PREFIX/<sha256>/<file name>`` and return their keys in the same shape.

    Every file is checked first (exists, regular, not empty: :class:`InvalidInputError`, nothing sent). A file
    already there with the same size and digest is skipped. A file up to ``SINGLE_PUT_MAX`` goes in one PUT; a
    larger one as a multipart upload streamed from disk (``PART_SIZE * PARTS_IN_FLIGHT`` of memory per file); the
    files in flight hold at most ``UPLOAD_SLOTS * PART_SIZE`` in all (``FILES_IN_FLIGHT`` multipart uploads, or more
    single PUTs, up to ``HEADS_IN_FLIGHT`` files). Each request is retried on transient errors by the library. A
    failure or Ctrl-C aborts the uploads in flight (no partial object) and raises :class:`StorageError` /
    :class:`StagingInterruptedError` with the keys already staged.
    ``on_progress`` gets a :class:`StagingProgress` as bytes go out (from worker threads, one call at a time).
    """
    from ._transport import run_work

    return run_work(stage_flow(storage, files, on_progress))


def _stage(
    storage: ObjectStorage,
    files: Iterable[Iterable[str | os.PathLike[str]]],
    on_progress: Callable[[StagingProgress], object] | None,
    cancel: threading.Event,
    *,
    dry_run: bool = False,
) -> StagedFiles:
    """:func:`stage_files` watching ``cancel`` (set by another thread to abort the uploads in flight)."""
    from ._transport import run_work

    return run_work(stage_flow(storage, files, on_progress, dry_run=dry_run), cancel)


def check_progress_callback(on_progress: object, field: str = "on_progress") -> None:
    """An upload progress callback is a plain function of one StagingProgress (it is called from the upload
    threads, never awaited), or None; anything else is refused before any request."""
    if on_progress is not None and (not callable(on_progress) or inspect.iscoroutinefunction(on_progress)):
        raise InvalidInputError(
            f"{field} must be a plain function (it is called from the upload threads, and never awaited)",
            value=type(on_progress).__name__,
            field=field,
        )


def stage_flow(
    storage: ObjectStorage,
    files: Iterable[Iterable[str | os.PathLike[str]]],
    on_progress: Callable[[StagingProgress], object] | None,
    *,
    dry_run: bool = False,
) -> Flow[StagedFiles]:
    """:func:`stage_files` as a flow: the input checked (no request before that), the plan, then the uploads."""
    if not isinstance(storage, ObjectStorage):
        raise InvalidInputError(f"storage must be an ObjectStorage, not {type(storage).__name__}", value=None)
    check_progress_callback(on_progress)
    groups = _check_groups(files)
    plan = yield from plan_staging_flow(storage, list(dict.fromkeys(p for g in groups for p in g)))
    return (yield from upload_flow(storage, plan, groups, on_progress, [], dry_run=dry_run))


@dataclass(frozen=True)
class StagingPlan:
    """What staging will do (pure data): the key of each local path, the files to upload, those already there."""

    keys: Mapping[str, str]
    upload: tuple[LocalFile, ...]
    skip: tuple[LocalFile, ...]


def plan_staging_flow(
    storage: ObjectStorage, paths: Sequence[str], *, started: Mapping[str, Any] | None = None
) -> Flow[StagingPlan]:
    """Hash the local ``paths`` (a digest begun by the file check, ``started``, goes on from where it stopped),
    HEAD their keys, and decide (:func:`plan_uploads`, pure) what to upload. Nothing is uploaded here."""
    local: list[LocalFile] = yield Work(
        functools.partial(hash_local_files, storage, list(paths), started=started),
        cancellable=True,
        what="hash local files",
    )
    candidates = [staged_key(storage.prefix, f.digest, Path(f.path).name) for f in local]
    heads: dict[str, Any] = yield Work(functools.partial(head_objects, storage, candidates), what="HEAD staged keys")
    remote = {k: v for k, v in heads.items() if isinstance(v, RemoteObject)}
    keys, to_upload, to_skip = plan_uploads(storage.prefix, local, remote)
    return StagingPlan(keys, tuple(to_upload), tuple(to_skip))


def upload_flow(
    storage: ObjectStorage,
    plan: StagingPlan,
    groups: Sequence[Sequence[str]],
    on_progress: Callable[[StagingProgress], object] | None,
    done: list[str],
    *,
    dry_run: bool = False,
) -> Flow[StagedFiles]:
    """Upload what ``plan`` says (nothing in a ``dry_run``). ``done`` collects the keys in the bucket as they land
    (the skipped ones first), for the caller to name on any error or interruption."""
    done.extend(plan.keys[f.path] for f in plan.skip)
    uploaded: tuple[str, ...] = tuple(plan.keys[f.path] for f in plan.upload)
    sent = 0
    if plan.upload and not dry_run:
        pairs = [(plan.keys[f.path], f) for f in plan.upload]
        uploaded, sent = yield Work(
            functools.partial(upload_files, storage, pairs, on_progress, done=done), cancellable=True, what="upload"
        )
    return StagedFiles(
        bucket=storage.bucket,
        groups=tuple(tuple(plan.keys[p] for p in g) for g in groups),
        uploaded=uploaded,
        skipped=tuple(plan.keys[f.path] for f in plan.skip),
        bytes_uploaded=sent,
        dry_run=dry_run,
    )


@contextlib.contextmanager
def _guarded(
    storage: ObjectStorage, pool: concurrent.futures.Executor, cancel: threading.Event, done: Sequence[str]
) -> Iterator[None]:
    """A failure or an interruption of the work in ``pool`` stops all of it (``cancel``: uploads in flight
    abort, no partial object) and names the keys already in the bucket (``done``)."""
    try:
        yield
    except StorageError as exc:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        exc.staged_keys = tuple(dict.fromkeys(done))
        raise
    except (KeyboardInterrupt, _Cancelled):
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise StagingInterruptedError(
            "staging was interrupted; uploads in flight were aborted", bucket=storage.bucket, staged_keys=done
        ) from None
    except BaseException:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def hash_local_files(
    storage: ObjectStorage, paths: Sequence[str], cancel: threading.Event, *, started: Mapping[str, Any] | None = None
) -> list[LocalFile]:
    """Each local path checked (exists, regular, not empty: :class:`InvalidInputError`) with its size, mtime and
    SHA-256, hashed in parallel. ``started``: path -> a :class:`~._files.source.HashingLocalFile` the file check
    read through; its digest goes on from where the check stopped, when the file has not changed since."""
    now_ns = time.time_ns()
    stats = {p: _stat_local(p) for p in paths}
    pool = concurrent.futures.ThreadPoolExecutor(max(1, min(FILES_IN_FLIGHT, len(paths))))
    with _guarded(storage, pool, cancel, ()):
        digests = list(pool.map(lambda p: _digest(p, cancel, (started or {}).get(p), stats[p]), paths))
    return [
        LocalFile(
            p,
            stats[p].st_size,
            d,
            stats[p].st_mtime_ns,
            stats[p].st_ctime_ns,
            settled(stats[p].st_mtime_ns, stats[p].st_ctime_ns, now_ns),
        )
        for p, d in zip(paths, digests, strict=True)
    ]


def head_objects(storage: ObjectStorage, keys: Sequence[str]) -> dict[str, RemoteObject | KeyCheck | None]:
    """HEAD every key in parallel: what each answer said (:func:`_head`)."""
    if not keys:
        return {}
    store = _store(storage)
    pool = concurrent.futures.ThreadPoolExecutor(min(HEADS_IN_FLIGHT, len(keys)))
    with _guarded(storage, pool, threading.Event(), ()):  # Ctrl-C here: StagingInterruptedError, as while uploading
        return dict(zip(keys, pool.map(lambda k: _head(storage, store, k), keys), strict=True))


def upload_files(
    storage: ObjectStorage,
    files: Sequence[tuple[str, LocalFile]],
    on_progress: Callable[[StagingProgress], object] | None,
    cancel: threading.Event,
    *,
    done: list[str],
) -> tuple[tuple[str, ...], int]:
    """Upload each ``(key, file)``, in order, as many at once as :data:`UPLOAD_SLOTS` of memory allow
    (:func:`upload_slots`; at most ``HEADS_IN_FLIGHT`` files); each key is appended to ``done`` as it lands.
    Returns the keys uploaded and the bytes sent."""
    store = _store(storage)
    progress = _Progress(on_progress, sum(f.size for _, f in files), len(files))
    uploaded: list[str] = []
    pool = concurrent.futures.ThreadPoolExecutor(HEADS_IN_FLIGHT)
    with _guarded(storage, pool, cancel, done):
        queue = list(files)
        uploads: dict[concurrent.futures.Future[None], tuple[str, int]] = {}
        free = UPLOAD_SLOTS
        while queue or uploads:
            while queue and may_start(slots := upload_slots(storage.scheme, queue[0][1].size), free, len(uploads)):
                key, local = queue.pop(0)
                free -= slots
                uploads[pool.submit(_upload, storage, store, key, local, progress, cancel)] = (key, slots)
            finished, _ = concurrent.futures.wait(uploads, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                key, slots = uploads.pop(future)
                free += slots
                future.result()  # raises the first failure
                done.append(key)
                uploaded.append(key)
    return tuple(uploaded), progress.done


async def stage_files_async(
    storage: ObjectStorage,
    files: Iterable[Iterable[str | os.PathLike[str]]],
    *,
    on_progress: Callable[[StagingProgress], object] | None = None,
) -> StagedFiles:
    """:func:`stage_files` for asyncio: the same staging in worker threads (the event loop stays free). Cancelling
    the awaiting task aborts the uploads in flight (and waits for the aborts) before the cancellation goes on."""
    from ._transport import run_work_async

    return await run_work_async(stage_flow(storage, files, on_progress))


def head_keys(storage: ObjectStorage, keys: Sequence[str]) -> tuple[tuple[KeyCheck, ...], frozenset[str]]:
    """HEAD every distinct key in parallel: one :class:`KeyCheck` per key, in order, and which of the keys are
    files on this machine (for the hint of :func:`key_verdicts`)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return (), frozenset()
    store = _store(storage)
    with concurrent.futures.ThreadPoolExecutor(min(HEADS_IN_FLIGHT, len(unique))) as pool:
        checks = tuple(pool.map(lambda k: _check_key(storage, store, k), unique))
    return checks, frozenset(c.key for c in checks if c.outcome == "missing" and _local_file(c.key))


async def verify_keys_async(storage: ObjectStorage, keys: Iterable[str]) -> tuple[KeyCheck, ...]:
    """:func:`verify_keys` for asyncio (in a worker thread)."""
    import asyncio

    return await asyncio.to_thread(verify_keys, storage, _check_keys(storage, keys))


# -- files of an import: what bulk_import(..., storage=, upload=) does before the first Import -----------------------


@dataclass(frozen=True)
class PreparedFiles:
    """The option's files as keys of the storage's bucket: ``groups`` (what the Imports carry), ``staged`` (what
    staging did or, in a dry run, would do; None without ``upload``) and ``checks`` (the verification of the other
    keys; empty when not verified)."""

    storage: ObjectStorage
    groups: tuple[tuple[str, ...], ...]
    staged: StagedFiles | None
    checks: tuple[KeyCheck, ...]

    @property
    def staged_keys(self) -> tuple[str, ...]:
        if self.staged is None or self.staged.dry_run:
            return ()
        return tuple(dict.fromkeys(self.staged.keys))

    def to_dict(self) -> dict[str, Any]:
        return {
            "storage": repr(self.storage),
            "bucket": self.storage.bucket,
            "files": [list(g) for g in self.groups],
            "staged": self.staged.to_dict() if self.staged is not None else None,
            "verified": [{"key": c.key, "outcome": c.outcome, "reason": c.reason} for c in self.checks],
        }


def is_upload_candidate(path: str) -> bool:
    """Whether ``upload=True`` stages ``path``: a regular file on this machine (not a URL)."""
    return "://" not in path and os.path.isfile(path)


def split_for_upload(
    storage: ObjectStorage, groups: Sequence[Sequence[str]], *, upload: bool, is_local: Callable[[str], bool]
) -> tuple[list[str], dict[str, str]]:
    """Pure: which paths to stage (local files, when ``upload``) and the key of every other path (normalised)."""
    local: list[str] = []
    keys: dict[str, str] = {}
    for group in groups:
        for path in group:
            if upload and is_local(path):
                local.append(path)
            else:
                keys[path] = normalize_key(storage, path)
    return list(dict.fromkeys(local)), keys


def check_unique_keys(groups: Sequence[Sequence[str]], keys: Mapping[str, str]) -> None:
    """Pure: two paths of one call that name the same key would import the same object twice (the option refuses
    a duplicate path; this is the same rule after normalisation and staging)."""
    seen: dict[str, str] = {}
    for group in groups:
        for path in group:
            key = keys[path]
            if key in seen and seen[key] != path:
                raise InvalidInputError(
                    f"{seen[key]!r} and {path!r} are the same object {key!r} in the bucket; each file may be imported "
                    "once per call",
                    value=path,
                    field="files",
                )
            seen[key] = path


def _plan_class() -> type:
    from ._plan import ImportPlan

    @dataclass(frozen=True)
    class StorageImportPlan(ImportPlan):
        """A dry run's :class:`ImportPlan` with the storage side: ``storage`` holds the keys the Imports would
        carry, what would be uploaded (and what is already there) and the verdict on every other key."""

        storage: PreparedFiles | None = None

        def to_dict(self) -> dict[str, Any]:
            data = super().to_dict()
            if self.storage is not None:
                data["storage"] = self.storage.to_dict()
            return data

    StorageImportPlan.__module__ = __name__
    StorageImportPlan.__qualname__ = "StorageImportPlan"
    return StorageImportPlan


StorageImportPlan = _plan_class()
