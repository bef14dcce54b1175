#!/usr/bin/env python3
"""A gateway that misbehaves in one chosen way, for uvtunnel's fault matrix.

It listens on 127.0.0.1 (a free port, printed as "listening on 127.0.0.1:PORT")
and treats every connection the same way, given by --mode. TLS uses the bundled
gateway's own certificate (--cert/--key from a uvtunnel-gateway state dir), so
uvtunnel verifies it with the same --alternate-ca-path as the healthy gateway
and the fault is exactly the one named, not a certificate error.

Connections are held (never closed by garbage collection) until the mode ends
them or the process is stopped: stopping it is how a test ends a stalled case.
"""
import argparse
import os
import socket
import ssl
import struct
import sys
import threading
import time

HEAD_LIMIT = 64 * 1024
held = []  # every socket stays referenced, so only the mode (or exit) closes it


def reset(sock):
    """Close with RST instead of FIN (SO_LINGER 0): an abrupt peer."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def read_head(sock):
    """Reads one HTTP request head; returns (head, bytes that followed it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > HEAD_LIMIT:
            raise ConnectionError("no complete request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def hold_forever(_sock):
    while True:
        time.sleep(3600)


# ---- modes that act before or instead of TLS ----

def silent(sock):
    """Accepts and never says anything: no TLS ServerHello, ever."""
    hold_forever(sock)


def reset_tls(sock):
    """Takes the ClientHello, then resets the connection mid-handshake."""
    sock.recv(4096)
    reset(sock)


def tls_alert(sock):
    """Answers the ClientHello with a fatal handshake_failure alert (TLS 1.2 record)."""
    sock.recv(4096)
    sock.sendall(bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))
    time.sleep(0.5)  # let the alert arrive before the FIN
    sock.close()


# ---- modes after a good TLS handshake and a complete CONNECT head ----

def garbage(tls):
    tls.sendall(b"SSH-2.0-OpenSSH_9.6 not a gateway\r\n" + os.urandom(512))
    hold_forever(tls)


def huge_head(tls):
    """A 200 whose head goes on for 1 MiB (one endless header line)."""
    tls.sendall(b"HTTP/1.1 200 Connection established\r\nX-Pad: " + b"a" * (1 << 20) + b"\r\n\r\n")
    hold_forever(tls)


def trickle(tls):
    """A valid head, one byte per second."""
    for byte in b"HTTP/1.1 200 Connection established\r\nX-Slow: yes\r\n\r\n":
        tls.sendall(bytes([byte]))
        time.sleep(1)
    hold_forever(tls)


def close_mid_head(tls):
    tls.sendall(b"HTTP/1.1 200 Connection established\r\nX-Cut-Off: her")
    time.sleep(0.2)
    tls.close()  # FIN without close_notify


def close_mid_relay(tls, early, relay_bytes=64 * 1024):
    """Answers 200, echoes the first relay_bytes, then resets the connection."""
    tls.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    echoed = 0
    if early:
        tls.sendall(early)
        echoed += len(early)
    while echoed < relay_bytes:
        chunk = tls.recv(16384)
        if not chunk:
            break
        tls.sendall(chunk)
        echoed += len(chunk)
    reset(tls)


def stall(tls):
    """Answers 200, then never reads: the client must stop reading its local side."""
    tls.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    hold_forever(tls)


# ---- sign-in faults: CONNECT says "sign in", the login endpoint misbehaves ----

def login(behaviour):
    def serve(tls, head):
        request_line = head.split(b"\r\n", 1)[0]
        if request_line.startswith(b"CONNECT "):
            tls.sendall(b"HTTP/1.1 302 Found\r\nLocation: /.pomerium/sign_in\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            time.sleep(0.2)
            tls.close()
            return
        if b"/.pomerium/api/v1/login" not in request_line:
            tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            tls.close()
            return
        behaviour(tls)
    return serve


def login_hang(tls):
    hold_forever(tls)


def login_garbage(tls):
    time.sleep(1)  # late enough that every waiting connection has joined this sign-in
    tls.sendall(b"\x00\x01\x02 this is not HTTP " + os.urandom(256))
    hold_forever(tls)


def login_500(tls):
    time.sleep(1)  # as above
    body = b"internal error"
    tls.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    time.sleep(0.2)
    tls.close()


# ---- connect-udp faults: a 101 to the Upgrade, then a broken capsule stream ----

SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: connect-udp\r\n"
             b"Capsule-Protocol: ?1\r\n\r\n")


def udp_huge_length(tls):
    """A DATAGRAM capsule whose Length (an 8-byte varint) is 2^62 - 1."""
    tls.sendall(SWITCHING + b"\x00" + b"\xff" * 8)
    hold_forever(tls)


def udp_bad_varint(tls):
    """A DATAGRAM capsule of one byte whose context id varint needs two."""
    tls.sendall(SWITCHING + b"\x00\x01\x40")
    hold_forever(tls)


def end_cleanly(tls):
    """Reads what the client sent (so closing sends no RST), then close_notify and FIN."""
    tls.settimeout(0.3)
    try:
        while tls.recv(65536):
            pass
    except (socket.timeout, OSError, ssl.SSLError):
        pass
    try:
        tls.unwrap().close()
    except (OSError, ssl.SSLError):
        tls.close()


def udp_cut_varint(tls):
    """The first byte of an 8-byte Length varint, then the end of the stream."""
    tls.sendall(SWITCHING + b"\x00\xc0")
    end_cleanly(tls)


def udp_close_after_101(tls):
    tls.sendall(SWITCHING)
    end_cleanly(tls)


def udp_unknown_types(tls, early):
    """Echoes the client's capsules, behind capsules uvtunnel must skip
    (unknown types, one with a 4-byte type varint) or drop (context id 5)."""
    junk = (b"\x2a\x03abc" + b"\x80\x00\xbe\xef\x02hi" + b"\x00\x04\x05xyz")
    # Before the echo, at a capsule boundary (the client's capsules may arrive in pieces).
    tls.sendall(SWITCHING + junk)
    data = early
    while True:
        if data:
            tls.sendall(data)
        data = tls.recv(65536)
        if not data:
            return


RAW_MODES = {"silent": silent, "reset-tls": reset_tls, "tls-alert": tls_alert}
CONNECT_MODES = {"garbage": garbage, "huge-head": huge_head, "trickle": trickle,
                 "close-mid-head": close_mid_head, "stall": stall,
                 "udp-huge-length": udp_huge_length, "udp-bad-varint": udp_bad_varint,
                 "udp-cut-varint": udp_cut_varint, "udp-close-after-101": udp_close_after_101}
LOGIN_MODES = {"login-hang": login(login_hang), "login-garbage": login(login_garbage), "login-500": login(login_500)}
MODES = sorted(list(RAW_MODES) + list(CONNECT_MODES) + list(LOGIN_MODES) + ["close-mid-relay", "udp-unknown-types"])


def serve(conn, mode, context):
    try:
        if mode in RAW_MODES:
            return RAW_MODES[mode](conn)
        tls = context.wrap_socket(conn, server_side=True)
        held.append(tls)
        head, early = read_head(tls)
        if mode in LOGIN_MODES:
            return LOGIN_MODES[mode](tls, head)
        if mode == "close-mid-relay":
            return close_mid_relay(tls, early)
        if mode == "udp-unknown-types":
            return udp_unknown_types(tls, early)
        CONNECT_MODES[mode](tls)
    except (OSError, ConnectionError, ssl.SSLError):
        pass  # the client gave up first: that is its right


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(f"hostile gateway ({args.mode}) listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        held.append(conn)
        threading.Thread(target=serve, args=(conn, args.mode, context), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
