#!/usr/bin/env python3
"""Churns tunnels through uvtunnel for perf/soak and checks every one.

    soak-client.py COUNT --good PORT --closed PORT --forbidden PORT [--concurrency C] [--seed S]

Each tunnel picks, at random (seeded, so a run can be repeated):
  47%  echo, client half-closes      send N bytes, shut down writing, read N back, EOF
  20%  echo, client closes           send N, read N back, close without half-close
  15%  target closes first           ask for N bytes, read them to the target's EOF
   8%  client resets mid-transfer    send N, read a little, RST (SO_LINGER 0)
   5%  route to a closed port        the gateway answers 502: closed, no byte back
   5%  route the gateway forbids     403: closed, no byte back
N is 0-4 KiB (70%), 4-64 KiB (25%) or 64-512 KiB (5%). Every echoed or sent
byte is compared with what was expected. Prints one summary line; exits 1 if
any tunnel did not end as its kind says it must.
"""
import argparse
import asyncio
import collections
import random
import socket
import struct
import sys
import time

PATTERN = random.Random(42).randbytes(1 << 20)  # the same bytes as soak-target.py
TIMEOUT = 60  # seconds for one whole tunnel; loopback needs a fraction of that

KINDS = [("echo-halfclose", 47), ("echo-clientclose", 20), ("target-closes", 15),
         ("client-reset", 8), ("refused-502", 5), ("refused-403", 5)]


def pick_size(rng):
    roll = rng.random()
    if roll < 0.70:
        return rng.randint(0, 4096)
    if roll < 0.95:
        return rng.randint(4096, 65536)
    return rng.randint(65536, 512 * 1024)


async def read_all(reader):
    chunks = []
    while chunk := await reader.read(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def echo(port, data, half_close):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"E" + data)
        await writer.drain()
        if half_close:
            writer.write_eof()
            back = await read_all(reader)
        else:
            back = await reader.readexactly(len(data)) if data else b""
        return back == data
    finally:
        writer.close()


async def target_closes(port, size):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"S" + struct.pack(">Q", size))
        await writer.drain()
        return await read_all(reader) == PATTERN[:size]
    finally:
        writer.close()


async def client_reset(port, data):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"E" + data)
    await writer.drain()
    if data:
        await reader.read(1024)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    return True


async def refused(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"E hello")
        await writer.drain()
        try:
            return await read_all(reader) == b""
        except ConnectionResetError:
            return True  # closed with our bytes unread: a reset is a close too
    finally:
        writer.close()


async def one(kind, ports, rng):
    size = pick_size(rng)
    start = rng.randrange(0, len(PATTERN) - size + 1)
    data = PATTERN[start:start + size]
    if kind == "echo-halfclose":
        return await echo(ports.good, data, half_close=True)
    if kind == "echo-clientclose":
        return await echo(ports.good, data, half_close=False)
    if kind == "target-closes":
        return await target_closes(ports.good, size)
    if kind == "client-reset":
        return await client_reset(ports.good, data)
    if kind == "refused-502":
        return await refused(ports.closed)
    return await refused(ports.forbidden)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--good", type=int, required=True)
    parser.add_argument("--closed", type=int, required=True)
    parser.add_argument("--forbidden", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="soak")
    ports = parser.parse_args()
    rng = random.Random(ports.seed)
    names = [name for name, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    plan = rng.choices(names, weights, k=ports.count)
    done = collections.Counter()
    bad = collections.Counter()
    next_index = 0
    started = time.monotonic()
    report_every = max(1, ports.count // 10)

    async def worker():
        nonlocal next_index
        while next_index < len(plan):
            kind = plan[next_index]
            next_index += 1
            try:
                ok = await asyncio.wait_for(one(kind, ports, rng), TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as error:
                ok = kind in ("client-reset", "refused-502", "refused-403") and not isinstance(error, asyncio.TimeoutError)
                if not ok and bad[kind] < 5:
                    print(f"{ports.label}: {kind} failed: {error!r}", file=sys.stderr)
            done[kind] += 1
            if not ok:
                bad[kind] += 1
            total = sum(done.values())
            if total % report_every == 0:
                rate = total / (time.monotonic() - started)
                print(f"{ports.label}: {total}/{ports.count} tunnels, {rate:.0f}/s", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker() for _ in range(ports.concurrency)))
    elapsed = time.monotonic() - started
    kinds = ", ".join(f"{name} {done[name]}" for name in names)
    print(f"{ports.label}: {sum(done.values())} tunnels in {elapsed:.0f} s ({sum(done.values()) / elapsed:.0f}/s): {kinds}; "
          f"wrong outcomes: {sum(bad.values())}{' ' + dict(bad).__repr__() if bad else ''}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
