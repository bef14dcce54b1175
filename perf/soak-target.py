#!/usr/bin/env python3
"""The service behind the gateway for perf/soak (127.0.0.1, free port printed).

The client's first byte picks the behaviour:
  E            echo everything until EOF, then close
  S + u64 len  send len bytes of the shared pattern, then close first (the
               target ends the tunnel, not the client)
Resets and early closes by the client are expected and ignored.
"""
import asyncio
import random
import struct
import sys

PATTERN = random.Random(42).randbytes(1 << 20)  # the client checks against the same bytes


async def handle(reader, writer):
    try:
        first = await reader.read(1)
        if first == b"E":
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        elif first == b"S":
            (size,) = struct.unpack(">Q", await reader.readexactly(8))
            writer.write(PATTERN[:size])
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(f"soak target listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
