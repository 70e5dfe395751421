"""Time to the error for an unknown collection on the real Milvus 2.3.5, with the preflight and without.

Run by ``_completion`` while its server is up. Every sample is a module-level ``bulk_import`` of a JSON file into a
collection name that was never created (fresh per sample), with ``timeout=TIMEOUT``:

- ``preflight``: the default; DescribeCollection answers "collection not found" and ``CollectionNotFoundError`` is
  raised before any Import is sent.
- ``no_preflight``: ``preflight=False``; the Import goes to the server, which on 2.3.5 retries internally for
  12-53 s before it answers.

The two kinds alternate (a no-preflight sample after each preflight one while both have samples left), so a drift
of the machine's load touches both.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any


def _one(uri: str, path: str, timeout: float, preflight: bool) -> dict[str, Any]:
    from pymilvus_import import MilvusImportError, bulk_import, new_bulk_import_option

    name = f"bench_missing_{uuid.uuid4().hex[:10]}"
    option = new_bulk_import_option(uri, name, [[path]])
    started = time.perf_counter()
    try:
        response = bulk_import(option, timeout=timeout, preflight=preflight)
    except MilvusImportError as error:
        return {
            "s": time.perf_counter() - started,
            "error": type(error).__name__,
            "message": str(error)[:300],
        }
    # An import into a collection that does not exist must not succeed: record it, do not hide it.
    return {"s": time.perf_counter() - started, "error": None, "message": f"no error: {response!r}"[:300]}


def run(uri: str, path: str, samples: int, no_preflight_samples: int, timeout: float) -> dict[str, Any]:
    with_pf: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    for i in range(max(samples, no_preflight_samples)):
        if i < samples:
            with_pf.append(_one(uri, path, timeout, preflight=True))
        if i < no_preflight_samples:
            without.append(_one(uri, path, timeout, preflight=False))

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        seconds = [r["s"] for r in runs]
        return {
            "n": len(runs),
            "median_s": statistics.median(seconds) if seconds else None,
            "min_s": min(seconds, default=None),
            "max_s": max(seconds, default=None),
            "errors": sorted({str(r["error"]) for r in runs}),
            "runs": runs,
        }

    return {"timeout_s": timeout, "preflight": summary(with_pf), "no_preflight": summary(without)}
