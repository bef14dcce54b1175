#!/usr/bin/env python3
"""UDP load for perf/udp: SESSIONS client sockets (one client address each) on
127.0.0.1 send to PORT; once each has had one echo (its session open: opened_s),
each keeps WINDOW datagrams of SIZE bytes in flight
(closed loop: a new one leaves when an echo comes back, or after 1 s without
one: counted lost), for SECONDS. Prints one JSON line: echoes per second,
round-trip p50/p99 in ms, lost. With --hold, sends one datagram per socket,
waits for the echoes, prints how many came back, then sleeps (an idle session
per socket) until killed."""
import json, os, resource, selectors, socket, sys, time

def main():
    args = sys.argv[1:]
    hold = "--hold" in args
    args = [a for a in args if a != "--hold"]
    port, sessions, window, size, seconds = int(args[0]), int(args[1]), int(args[2]), int(args[3]), float(args[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(sessions):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0)); s.setblocking(False)
        s.connect(("127.0.0.1", port))
        socks.append(s); sel.register(s, selectors.EVENT_READ)
    payload = os.urandom(max(size - 8, 0))
    def send(s):
        s.send(time.perf_counter_ns().to_bytes(8, "big") + payload)
    # Every socket's first datagram opens its session (through uvtunnel: a TLS
    # connection and a connect-udp each); the measurement starts once all have echoed.
    opening = time.time()
    for s in socks: send(s)
    got, deadline = 0, time.time() + 60
    while got < sessions and time.time() < deadline:
        for key, _ in sel.select(0.5):
            try:
                key.fileobj.recv(70000); got += 1
            except OSError:
                pass
    opened = time.time() - opening
    if hold:
        print(json.dumps({"held": got}), flush=True)
        time.sleep(3600)
        return
    rtts, lost = [], 0
    inflight = {s: 0 for s in socks}
    last = {s: time.time() for s in socks}
    for s in socks:
        for _ in range(window): send(s)
        inflight[s] = window
    start = time.time(); end = start + seconds; done = 0
    while time.time() < end:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            while True:
                try:
                    data = s.recv(70000)
                except BlockingIOError:
                    break
                now = time.perf_counter_ns()
                rtts.append((now - int.from_bytes(data[:8], "big")) / 1e6)
                done += 1; last[s] = time.time(); send(s)
        now = time.time()
        for s in socks:  # a datagram lost (kernel, queue, session limit): send another after 1 s
            if now - last[s] > 1.0:
                lost += 1; last[s] = now; send(s)
    elapsed = time.time() - start
    rtts.sort()
    pick = lambda q: round(rtts[min(len(rtts) - 1, int(q * len(rtts)))], 3) if rtts else None
    print(json.dumps({"sessions": sessions, "opened_s": round(opened, 2), "window": window, "size": size, "echoes_per_s": round(done / elapsed),
                      "p50_ms": pick(0.5), "p99_ms": pick(0.99), "lost": lost}), flush=True)

main()
