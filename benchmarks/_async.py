"""Async throughput: ``python -m benchmarks._async ADDRESS N ROUNDS CONCURRENCY``, in one fresh process.

N submissions at a fixed concurrency (CONCURRENCY worker coroutines sharing one channel) through
``AsyncImportClient.bulk_import`` vs raw ``grpc.aio`` calls of the generated stub with the same channel options.
Each round runs both variants (alternating which goes first); throughput is the median over rounds, the ratio the
median of the per-round ratios. The client process's CPU time per call is reported too: the server (another
process) can be what limits throughput on a 2-core machine, and then CPU per call is where client overhead shows.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._stats import emit

FILE = "/var/lib/milvus/data/bench/rows.json"


async def drive(call: Callable[[], Awaitable[object]], n: int, concurrency: int) -> tuple[float, float]:
    """(seconds, client CPU seconds) to complete n calls with ``concurrency`` workers."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, time.process_time() - cpu


async def main_async(address: str, n: int, rounds: int, concurrency: int) -> dict[str, Any]:
    import grpc.aio

    from pymilvus_import import AsyncImportClient, new_bulk_import_option
    from pymilvus_import._connection import DEFAULT_CHANNEL_OPTIONS
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

    channel = grpc.aio.insecure_channel(address, options=list(DEFAULT_CHANNEL_OPTIONS))
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)

    async def floor() -> object:
        reply = await stub.Import(milvus_pb2.ImportRequest(collection_name="bench", files=[FILE]))
        if reply.status.code or reply.status.error_code or not reply.tasks:
            raise RuntimeError(reply)
        return reply.tasks[0]

    client = AsyncImportClient(f"http://{address}")
    option = new_bulk_import_option("", "bench", [[FILE]])

    async def ours() -> object:
        return await client.bulk_import(option)

    variants = {"floor": floor, "ours": ours}
    for fn in variants.values():
        await drive(fn, min(n, 500), concurrency)
    throughput: dict[str, list[float]] = {name: [] for name in variants}
    cpu_us: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        for name in ("floor", "ours") if r % 2 == 0 else ("ours", "floor"):
            seconds, cpu = await drive(variants[name], n, concurrency)
            throughput[name].append(n / seconds)
            cpu_us[name].append(cpu / n * 1e6)
    await client.close()
    await channel.close()
    median = {name: statistics.median(v) for name, v in throughput.items()}
    cpu_median = {name: statistics.median(v) for name, v in cpu_us.items()}
    return {
        "submissions": n,
        "concurrency": concurrency,
        "rounds": rounds,
        "calls_per_s": median,
        "round_calls_per_s": throughput,
        "client_cpu_us_per_call": cpu_median,
        "ratio_to_floor": statistics.median(
            a / b for a, b in zip(throughput["ours"], throughput["floor"], strict=True)
        ),
        "ratio_of_medians": median["ours"] / median["floor"],
        "cpu_ratio_to_floor": cpu_median["ours"] / cpu_median["floor"],
    }


if __name__ == "__main__":
    address_arg, n_arg, rounds_arg, conc_arg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    emit(asyncio.run(main_async(address_arg, n_arg, rounds_arg, conc_arg)))
