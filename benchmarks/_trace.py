"""Which modules one steady-state ``bulk_import`` passes through, and how often control changes module.

``python -m benchmarks._trace [--root DIR] [--json]``: ``--root`` runs it on another checkout of the package (e.g. an
older commit in a ``git worktree``), whose ``pymilvus_import`` is then imported instead of this one.

Steady state: an ``ImportClient`` over an in-process channel that answers every RPC at once with the instant
server's reply bytes (no I/O, nothing timed), one warm-up call (generated code loaded, the preflight's schema
cached), then one traced ``client.bulk_import(option)`` with the default preflight. A ``sys.setprofile`` hook sees
every Python call and return; after each event, control is in the module of the frame that runs next (the callee
on a call, the caller on a return, a generator's frame on each resume and its resumer on each yield). Only
``pymilvus_import`` modules count: a visit to grpc, protobuf or the standard library leaves the position where it
was. Printed: the package modules entered (with how many calls each got) and the number of module changes, with
the busiest pairs.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sys
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGE = "pymilvus_import"
FILE = "/var/lib/milvus/data/bench/rows.json"


def _module(frame: FrameType | None) -> str | None:
    if frame is None:
        return None
    name = frame.f_globals.get("__name__", "")
    return name if name == PACKAGE or name.startswith(PACKAGE + ".") else None


def trace_one_call() -> dict[str, Any]:
    import pymilvus_import as pi
    from benchmarks._server import OK_ONLY, replies

    fixed = replies()

    class InstantChannel:
        """A grpc.Channel look-alike: every method answers at once with the instant server's reply bytes."""

        def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
            answer = fixed.get(method.rsplit("/", 1)[-1], OK_ONLY)
            return lambda request, **kw: answer

        def close(self) -> None:
            pass

    client = pi.ImportClient(channel=InstantChannel())
    option = pi.new_bulk_import_option("", "bench", [[FILE]])
    client.bulk_import(option)  # warm-up: the preflight's DescribeCollection is asked here and cached

    positions: list[str] = []
    calls: collections.Counter[str] = collections.Counter()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            module = _module(frame)
            if module is not None:
                calls[module] += 1
        elif event == "return":
            module = _module(frame.f_back)
        else:  # c_call, c_return, c_exception: C functions do not move control between our modules
            return
        if module is not None and (not positions or positions[-1] != module):
            positions.append(module)

    sys.setprofile(profile)
    try:
        client.bulk_import(option)
    finally:
        sys.setprofile(None)
    client.close()
    pairs = collections.Counter(f"{a} -> {b}" for a, b in itertools.pairwise(positions))
    return {
        "package": pi.__file__,
        "modules": dict(sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))),
        "module_count": len(calls),
        "module_changes": max(0, len(positions) - 1),
        "busiest_changes": dict(pairs.most_common(8)),
        "path": positions,
    }


def summary(result: dict[str, Any]) -> str:
    modules = ", ".join(f"{name.removeprefix(PACKAGE + '.')} ({n})" for name, n in result["modules"].items())
    return (
        f"one steady-state bulk_import: {result['module_count']} modules, {result['module_changes']} module changes\n"
        f"  modules (calls): {modules}\n"
        f"  path: {' > '.join(m.removeprefix(PACKAGE + '.') for m in result['path'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._trace", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, help="a checkout whose pymilvus_import to trace (default: this one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    args = parser.parse_args(argv)
    if args.root is not None:
        sys.path.insert(0, str(args.root.resolve()))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
    result = trace_one_call()
    print(json.dumps(result) if args.json else summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
