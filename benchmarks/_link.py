"""An emulated network link for the staging benchmark: a TCP forwarder that adds a fixed delay each way and caps
EACH connection at a fixed rate in each direction, and ``python -m benchmarks._link`` to check that it does.

What it models: the per-flow limit of a real path to object storage (one TCP connection gets ~25 MB/s, so clients
that open parallel connections go faster) plus 20 ms of round-trip time. What it does not model: packet loss,
congestion control and slow start, a bottleneck shared by all flows, TLS. It is an emulation in user space, not a
network.

Why a forwarder: kernel emulation (``tc qdisc ... netem`` in a network namespace) needs the ``sch_netem`` module,
which this machine's kernel (and so CI's, the same kind of machine) does not have ("Specified qdisc kind is
unknown").

How: the listener forks one process per accepted connection, so connections do not share a Python interpreter (no
common GIL, no common event loop): the forwarder is not the limit. In each connection process, each direction has
a reader thread (``recv_into`` 64 KiB chunks, stamped with their arrival time, into a queue bounded at
:data:`QUEUE_BYTES`) and a writer thread that sends a chunk no earlier than its arrival + :data:`DELAY_S` and paces
the bytes with a per-connection token bucket: the bucket holds at most :data:`BURST` bytes, so an idle connection
never saves up credit (the earlier forwarder paced against the connection's start time, so a kept-alive connection
idle for a while then ran unlimited).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator

DELAY_S = 0.010  # each way: 20 ms round trip
RATE = 25 * 1000 * 1000  # bytes/s per connection and direction
CHUNK = 64 * 1024
BURST = CHUNK  # at most one chunk of credit
QUEUE_BYTES = 1024 * 1024  # bytes "on the wire" per direction before the sender is pushed back (TCP backpressure)


class _Line:
    """One direction of one connection: a delay line plus a token bucket."""

    def __init__(self, src: socket.socket, dst: socket.socket, rate: float, delay: float) -> None:
        self.src, self.dst, self.rate, self.delay = src, dst, rate, delay
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.cond = threading.Condition()
        self.closed = False

    def read(self) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                n = self.src.recv_into(view)
                if n == 0:
                    break
                item = (time.monotonic() + self.delay, bytes(view[:n]))
                with self.cond:
                    while self.queued >= QUEUE_BYTES and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    self.queue.append(item)
                    self.queued += n
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.queue.append((0.0, b""))  # end of stream
            self.cond.notify_all()

    def write(self) -> None:
        tokens, stamp = float(BURST), time.monotonic()
        try:
            while True:
                with self.cond:
                    while not self.queue:
                        self.cond.wait()
                    due, data = self.queue.popleft()
                    self.queued -= len(data)
                    self.cond.notify_all()
                if not data:
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    return
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                # Token bucket: refill at `rate` up to BURST; wait until the chunk is covered.
                now = time.monotonic()
                tokens = min(float(BURST), tokens + (now - stamp) * self.rate)
                stamp = now
                if tokens < len(data):
                    time.sleep((len(data) - tokens) / self.rate)
                    now = time.monotonic()
                    tokens += (now - stamp) * self.rate
                    stamp = now
                tokens -= len(data)
                self.dst.sendall(data)
        except OSError:
            with self.cond:
                self.closed = True
                self.cond.notify_all()
            with contextlib.suppress(OSError):
                self.src.shutdown(socket.SHUT_RDWR)


def _relay(client: socket.socket, target: int, rate: float, delay: float) -> None:
    try:
        server = socket.create_connection(("127.0.0.1", target))
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = (_Line(client, server, rate, delay), _Line(server, client, rate, delay))
    threads = [threading.Thread(target=f, daemon=True) for line in lines for f in (line.read, line.write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    server.close()


def serve(port: int, target: int, rate: float = RATE, delay: float = DELAY_S, ready: object = None) -> None:
    """Listen on ``port`` and forward each connection to ``target`` in its own forked process (until killed)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(256)
    if ready is not None:
        ready.set()  # type: ignore[attr-defined]
    parent = os.getppid()
    listener.settimeout(1.0)
    while True:
        try:
            client, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the benchmark is gone (killed): so is its link
                os._exit(0)
            continue
        client.settimeout(None)
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                _relay(client, target, rate, delay)
            finally:
                os._exit(0)
        client.close()


@contextlib.contextmanager
def emulated_link(port: int, target: int, rate: float = RATE, delay: float = DELAY_S) -> Iterator[str]:
    """The forwarder in a child process (its own process group, so the connection processes go with it); yields
    ``http://127.0.0.1:<port>``."""
    ctx = multiprocessing.get_context("spawn")  # the caller may have threads (obstore's runtime): no fork of it
    ready = ctx.Event()
    process = ctx.Process(target=_serve_in_group, args=(port, target, rate, delay, ready), daemon=True)
    process.start()
    if not ready.wait(10):
        process.kill()
        raise RuntimeError(f"the emulated link did not start on port {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        assert process.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.join(5)


def _serve_in_group(port: int, target: int, rate: float, delay: float, ready: object) -> None:
    os.setpgid(0, 0)
    serve(port, target, rate, delay, ready)


# -- checking the emulation ------------------------------------------------------------------------------------------


def _sink(port: object) -> None:
    """Reads a connection to its end and answers the byte count; a 1-byte message is echoed (for the RTT)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port.put(listener.getsockname()[1])  # type: ignore[attr-defined]
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            buffer = bytearray(1024 * 1024)
            first = conn.recv_into(buffer)
            if first == 1:  # ping
                conn.sendall(b"!")
                for _ in range(20):
                    if conn.recv_into(buffer) != 1:
                        break
                    conn.sendall(b"!")
                os._exit(0)
            total = first
            while n := conn.recv_into(buffer):
                total += n
            conn.sendall(str(total).encode())
            conn.close()
            os._exit(0)
        conn.close()


def _send(port: int, size: int, payload: bytes, walls: list[float], i: int) -> None:
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as c:
        left = size
        while left > 0:
            part = payload[: min(left, len(payload))]
            c.sendall(part)
            left -= len(part)
        c.shutdown(socket.SHUT_WR)
        got = int(c.recv(64))
        if got != size:
            raise RuntimeError(f"the sink got {got} bytes of {size}")
    walls[i] = time.perf_counter() - t


def check(connections: tuple[int, ...] = (1, 4, 8), seconds: float = 3.0) -> dict[str, object]:
    """Measure the link itself, against a local sink (not the S3 server): round-trip time, and the throughput of
    1 and N parallel connections, each sending for about ``seconds``."""
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    sink = ctx.Process(target=_sink, args=(ports,), daemon=True)
    sink.start()
    sink_port = ports.get(timeout=20)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    result: dict[str, object] = {"rate_mb_s_per_connection": RATE / 1e6, "delay_ms_each_way": DELAY_S * 1000}
    try:
        with emulated_link(port, sink_port):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                rtts = []
                for _ in range(10):
                    t = time.perf_counter()
                    s.sendall(b"?")
                    s.recv(1)
                    rtts.append(time.perf_counter() - t)
            result["rtt_ms"] = sorted(rtts)[len(rtts) // 2] * 1000
            size = int(RATE * seconds)
            for n in connections:
                walls: list[float] = [0.0] * n
                payload = os.urandom(CHUNK) * 16

                threads = [threading.Thread(target=_send, args=(port, size, payload, walls, i)) for i in range(n)]
                t0 = time.perf_counter()
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                total = time.perf_counter() - t0
                result[f"{n}_connections"] = {
                    "per_connection_mb_s": [round(size / w / 1e6, 2) for w in walls],
                    "aggregate_mb_s": round(n * size / total / 1e6, 2),
                }
                print(json.dumps({n: result[f"{n}_connections"]}), file=sys.stderr, flush=True)
    finally:
        sink.kill()
        sink.join(5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(json.dumps(check(tuple(args.connections), args.seconds), indent=2))


if __name__ == "__main__":
    main()
