"""Warm per-call overhead (sync), in one fresh process: ``python -m benchmarks._calls ADDRESS N ROUNDS``.

Three variants against the instant server, each on its own channel with the same channel options:

- ``floor``: the raw generated stub: build an ``ImportRequest``, call ``stub.Import``, check status and task id.
- ``ours``: a warm ``ImportClient.bulk_import(option)`` (option built once; validation, a fresh idempotency key,
  encoding, the RPC and decoding happen per call). The preflight is on (the default): its DescribeCollection is
  asked on the first call and then answered from the client's schema cache (re-asked once the 10 s TTL runs out).
- ``ours_no_preflight``: the same on a client made with ``preflight=False`` (the cached preflight's cost is the
  paired ratio ``ours / ours_no_preflight``).
- ``pymilvus``: ``utility.do_bulk_insert`` on a ``connections.connect`` connection.

``N`` calls of each are split into ``ROUNDS`` rounds; every round runs the variants one after the other in a
rotating order; the per-call time of a variant is the median of its rounds' means, and its ratio to the floor the
median of the per-round ratios (paired rounds: the drift of a shared machine's load mostly cancels).

Then the first call of a fresh client (``first_call``): in this already warm process, ``FRESH`` pairs of new
``ImportClient`` objects, one with the preflight and one without (alternating which goes first), each timed from
construction to its first ``bulk_import`` returning (dial + DescribeCollection + Import vs dial + Import). The extra
cost is set against one warm round trip of the raw stub (the floor's per-call time).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from ._stats import emit

FILE = "/var/lib/milvus/data/bench/rows.json"
COLLECTION = "bench"
WARMUP = 200


def make_variants(address: str, include_pymilvus: bool) -> tuple[dict[str, Callable[[], object]], Callable[[], None]]:
    import grpc

    from pymilvus_import import ImportClient, new_bulk_import_option
    from pymilvus_import._connection import DEFAULT_CHANNEL_OPTIONS
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

    raw_channel = grpc.insecure_channel(address, options=list(DEFAULT_CHANNEL_OPTIONS))
    stub = milvus_pb2_grpc.MilvusServiceStub(raw_channel)
    request_class = milvus_pb2.ImportRequest

    def floor() -> object:
        reply = stub.Import(request_class(collection_name=COLLECTION, files=[FILE]))
        if reply.status.code or reply.status.error_code or not reply.tasks:
            raise RuntimeError(reply)
        return reply.tasks[0]

    client = ImportClient(f"http://{address}")
    plain = ImportClient(f"http://{address}", preflight=False)
    option = new_bulk_import_option("", COLLECTION, [[FILE]])

    def ours() -> object:
        return client.bulk_import(option)

    def ours_no_preflight() -> object:
        return plain.bulk_import(option)

    variants: dict[str, Callable[[], object]] = {"floor": floor, "ours": ours, "ours_no_preflight": ours_no_preflight}
    closers: list[Callable[[], None]] = [raw_channel.close, client.close, plain.close]
    if include_pymilvus:
        warnings.simplefilter("ignore")
        from pymilvus import connections, utility

        connections.connect(alias="bench", uri=f"http://{address}")

        def pymilvus() -> object:
            return utility.do_bulk_insert(COLLECTION, files=[FILE], using="bench")

        variants["pymilvus"] = pymilvus
        closers.append(lambda: connections.disconnect("bench"))

    def close() -> None:
        for closer in closers:
            closer()

    return variants, close


def measure(variants: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, Any]:
    for fn in variants.values():
        for _ in range(min(WARMUP, n)):
            fn()
    per_round = max(1, n // rounds)
    names = list(variants)
    means: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = variants[name]
            gc.collect()
            started = time.perf_counter()
            for _ in range(per_round):
                fn()
            means[name].append((time.perf_counter() - started) / per_round * 1e6)
    per_call = {name: statistics.median(v) for name, v in means.items()}
    return {
        "calls_per_variant": per_round * rounds,
        "rounds": rounds,
        "per_call_us": per_call,
        "round_means_us": means,
        # Paired: each round's variants ran back to back, so the load drift of a busy machine mostly cancels.
        "ratio_to_floor": {
            name: statistics.median(a / b for a, b in zip(means[name], means["floor"], strict=True)) for name in names
        },
        "ratio_of_medians": {name: per_call[name] / per_call["floor"] for name in names},
        "overhead_us": {name: per_call[name] - per_call["floor"] for name in names},
    }


def first_call(address: str, pairs: int) -> dict[str, Any]:
    """Construction + first ``bulk_import`` of a fresh client, with and without the preflight (paired), and the same
    for the raw stub on a fresh channel (Import alone vs DescribeCollection + Import): the cost of one extra RPC on a
    new connection with no library in it, the unit the preflight's extra cost is set against."""
    import grpc

    from pymilvus_import import ImportClient, new_bulk_import_option
    from pymilvus_import._connection import DEFAULT_CHANNEL_OPTIONS
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

    option = new_bulk_import_option("", COLLECTION, [[FILE]])
    describe = milvus_pb2.DescribeCollectionRequest(collection_name=COLLECTION)
    request = milvus_pb2.ImportRequest(collection_name=COLLECTION, files=[FILE])

    def once(preflight: bool) -> float:
        started = time.perf_counter()
        client = ImportClient(f"http://{address}", preflight=preflight)
        client.bulk_import(option)
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed

    def raw(with_describe: bool) -> float:
        started = time.perf_counter()
        channel = grpc.insecure_channel(address, options=list(DEFAULT_CHANNEL_OPTIONS))
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        if with_describe:
            stub.DescribeCollection(describe)
        stub.Import(request)
        elapsed = time.perf_counter() - started
        channel.close()
        return elapsed

    once(True), once(False), raw(True), raw(False)  # warm-up: decoders and descriptors load once per process
    samples: dict[str, list[float]] = {"preflight": [], "no_preflight": [], "raw_describe": [], "raw_import": []}
    for i in range(pairs):
        for flag in (True, False) if i % 2 == 0 else (False, True):
            samples["preflight" if flag else "no_preflight"].append(once(flag) * 1e6)
            samples["raw_describe" if flag else "raw_import"].append(raw(flag) * 1e6)
    diffs = [a - b for a, b in zip(samples["preflight"], samples["no_preflight"], strict=True)]
    raw_diffs = [a - b for a, b in zip(samples["raw_describe"], samples["raw_import"], strict=True)]
    return {
        "pairs": pairs,
        "median_us": {name: statistics.median(v) for name, v in samples.items()},
        "samples_us": samples,
        "extra_us": statistics.median(diffs),
        "raw_extra_us": statistics.median(raw_diffs),
        "ratio": statistics.median(a / b for a, b in zip(samples["preflight"], samples["no_preflight"], strict=True)),
    }


def main(argv: list[str]) -> None:
    address, n, rounds, include_pymilvus = argv[0], int(argv[1]), int(argv[2]), argv[3] == "1"
    fresh = int(argv[4]) if len(argv) > 4 else 50
    variants, close = make_variants(address, include_pymilvus)
    try:
        result = measure(variants, n, rounds)
    finally:
        close()
    means = result["round_means_us"]
    result["preflight_cached_ratio"] = statistics.median(
        a / b for a, b in zip(means["ours"], means["ours_no_preflight"], strict=True)
    )
    result["first_call"] = first_call(address, fresh)
    result["first_call"]["one_round_trip_us"] = result["per_call_us"]["floor"]
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1:])
