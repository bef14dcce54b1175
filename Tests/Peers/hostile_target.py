#!/usr/bin/env python3
"""A target (the service behind the gateway) that misbehaves in one chosen way.

Plain TCP on 127.0.0.1 (a free port, printed as "listening on 127.0.0.1:PORT").
Modes:
  reset    echo the first 64 KiB, then reset the connection (RST)
  noread   accept and never read (the gateway and uvtunnel must apply backpressure)
  greet    send a 4 KiB greeting (as an RDP or ssh server speaks first), then never read
  nowrite  read and discard everything, never write, never close
Held connections end when the process is stopped (unread data makes that a RST).
"""
import argparse
import socket
import struct
import sys
import threading
import time

held = []


def reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def echo_then_reset(sock, limit=64 * 1024):
    echoed = 0
    while echoed < limit:
        chunk = sock.recv(16384)
        if not chunk:
            break
        sock.sendall(chunk)
        echoed += len(chunk)
    reset(sock)


def never_read(_sock):
    while True:
        time.sleep(3600)


def greet_then_never_read(sock):
    sock.sendall(b"greeting " * 455 + b"!")  # 4,096 bytes
    never_read(sock)


def never_write(sock):
    while sock.recv(65536):
        pass
    never_read(sock)  # EOF seen; still never answer, never close


MODES = {"reset": echo_then_reset, "noread": never_read, "greet": greet_then_never_read, "nowrite": never_write}


def serve(conn, mode):
    try:
        MODES[mode](conn)
    except OSError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", required=True, choices=sorted(MODES))
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(f"hostile target ({args.mode}) listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        held.append(conn)
        threading.Thread(target=serve, args=(conn, args.mode), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
