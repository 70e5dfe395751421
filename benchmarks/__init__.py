"""Benchmarks for pymilvus-import: ``python -m benchmarks [--quick]`` (or ``make bench`` / ``make bench-quick``).

Every measurement is side by side in one run and reported as a ratio:

- ``floor``: the same work done with only ``grpc`` and the raw generated stub (``MilvusServiceStub``).
- ``pymilvus``: the reference client (``connections.connect`` + ``utility.do_bulk_insert``).

Modules:

- ``_server``: an instant-answer gRPC server (fixed replies, no locking, no recording beyond a per-method counter),
  run as a separate process so that its CPU does not share the GIL with the client being measured.
- ``_cold``: cold start in fresh processes.
- ``_calls``: warm per-call overhead (sync), with the preflight cached and with ``preflight=False``, and the first
  call of a fresh client with and without the preflight.
- ``_async``: asyncio throughput at concurrency 100 (``AsyncImportClient``).
- ``_completion``: how soon ``wait_for_import`` notices a finished job on the real embedded Milvus 2.3.5; on the
  same server, ``_unknown`` times the error for an unknown collection with and without the preflight.
- ``_memory``: RSS after import and across many calls.
"""
