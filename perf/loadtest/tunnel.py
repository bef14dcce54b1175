"""The uvtunnel a Locust worker process runs for all its users.

One per worker process (not one per user): a worker machine signs in once,
and its sessions are tunnels of one uvtunnel, as a user's RDP clients would
be. Started on the first session, stopped when the process quits; the kernel
stops it too if the worker dies (PR_SET_PDEATHSIG), so no uvtunnel outlives
its worker.
"""

import os
import re
import shlex
import subprocess
import tempfile
import time

import gevent
import gevent.lock
import gevent.socket

import children

LISTENING = re.compile(r"listening on (\S+?):(\d+)[, ]")
METRICS = re.compile(r"metrics on http://(\S+?):(\d+)/metrics")
COUNTER = re.compile(r'^uvtunnel_tunnels_total\{outcome="([a-z_]+)"\} (\d+)', re.M)

# uvtunnel's outcome classes (README, Metrics) in the words of a load test.
# Ordered: when several tunnels failed at once, a session takes the first.
CAUSES = {
    "denied": "refused 403 (access denied by the gateway)",
    "sign_in": "sign-in failed or timed out",
    "resolve": "gateway unreachable (name did not resolve)",
    "connect": "gateway unreachable (no TCP connection)",
    "tls_handshake": "gateway unreachable (TLS handshake failed)",
    "tls_verify": "gateway unreachable (certificate did not verify)",
    "timeout": "gateway unreachable (connect timeout)",
    "egress_proxy": "gateway unreachable (egress proxy refused)",
    "not_found": "refused 404 (no such route)",
    "device_denied": "refused 450 (device not authorized)",
    "client_certificate": "refused 495 (client certificate)",
    "gateway_error": "gateway error 5xx (target unreachable from the gateway)",
    "unexpected_status": "gateway answered an unexpected status",
    "bad_answer": "gateway answer not HTTP or cut off",
    "stream_reset": "HTTP/2 stream reset by the gateway",
    "gateway_io": "gateway connection broke",
    "local_io": "local side broke",
    "lifetime": "max tunnel lifetime reached",
    "revoked": "token revoked (recheck)",
    "shutdown": "uvtunnel stopped",
}


class TunnelFailedToStart(Exception):
    pass


class WorkerTunnel:
    """Starts uvtunnel once, says where to connect, and tells why tunnels failed."""

    def __init__(self, binary, route, flags, config, log_dir):
        self.binary = binary
        self.route = route
        self.flags = shlex.split(flags or "")
        self.config = config
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="loadtest-uvtunnel-")
        self.process = None
        self.address = None  # (host, port) the sessions connect to
        self.metrics = None  # (host, port) of uvtunnel's /metrics, for failure causes
        self.claimed = {}  # failures per class already given to a session
        self._lock = gevent.lock.BoundedSemaphore()
        self._cause_lock = gevent.lock.BoundedSemaphore()
        self.start_error = None

    def ensure_started(self):
        """The first caller starts uvtunnel; the others wait for it. Raises if it could not."""
        with self._lock:
            if self.address:
                return self.address
            if self.start_error:
                raise TunnelFailedToStart(self.start_error)
            try:
                self._start()
            except TunnelFailedToStart as error:
                self.start_error = str(error)
                raise
            return self.address

    def _command(self):
        command = [self.binary]
        if self.config:
            command += ["--config", self.config]
        else:
            command += ["--listen", "127.0.0.1:0"]
        command += self.flags
        if "--metrics-addr" not in self.flags and not self.config:
            command += ["--metrics-addr", "127.0.0.1:0"]
        if not self.config:
            command.append(self.route)
        return command

    def _start(self):
        if not self.config and not self.route:
            raise TunnelFailedToStart("no route: give --route ROUTE (or --uvtunnel-config FILE)")
        os.makedirs(self.log_dir, exist_ok=True)
        self.log_path = os.path.join(self.log_dir, f"uvtunnel-{os.getpid()}.log")
        log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("LOG_LEVEL", "warning")  # no line per tunnel: 10,000 sessions would flood the disk
        try:
            self.process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, preexec_fn=children.die_with_parent)
        except OSError as error:
            raise TunnelFailedToStart(f"cannot run {self.binary}: {error}")
        finally:
            log.close()
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            listening = LISTENING.search(text)
            metrics = METRICS.search(text)
            if listening and (metrics or "--metrics-addr" in self.flags or self.config):
                host = listening.group(1).strip("[]")
                self.address = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, int(listening.group(2)))
                if metrics:
                    self.metrics = (metrics.group(1).strip("[]"), int(metrics.group(2)))
                return
            if self.process.poll() is not None:
                break
            gevent.sleep(0.05)
        self.stop()
        last = text.strip().splitlines()[-1] if text.strip() else "(no output)"
        raise TunnelFailedToStart(f"uvtunnel did not start ({' '.join(self._command()[1:])}): {last}")

    def stop(self):
        children.stop(self.process)
        self.process = None

    def _scrape(self):
        """uvtunnel_tunnels_total by outcome, or None without metrics."""
        if not self.metrics:
            return None
        try:
            with gevent.socket.create_connection(self.metrics, timeout=2) as s:
                s.sendall(b"GET /metrics HTTP/1.0\r\nHost: uvtunnel\r\n\r\n")
                chunks = []
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError:
            return None
        return {name: int(count) for name, count in COUNTER.findall(b"".join(chunks).decode("utf-8", "replace"))}

    def failure_cause(self, wait_seconds):
        """Why a tunnel just failed, from uvtunnel's own count by outcome.

        uvtunnel's log lines do not name the local client, so a failure is
        matched to a session by count, not by identity: each failed tunnel
        uvtunnel counts is handed to one failed session. The totals per
        cause are exact; which of two sessions that failed in the same instant
        gets which cause is not. None when uvtunnel counted no failure.
        """
        deadline = time.monotonic() + wait_seconds
        with self._cause_lock:
            while True:
                counts = self._scrape()
                if counts is None:
                    return None
                for outcome in CAUSES:
                    if counts.get(outcome, 0) > self.claimed.get(outcome, 0):
                        self.claimed[outcome] = self.claimed.get(outcome, 0) + 1
                        return outcome
                if time.monotonic() >= deadline:
                    return None
                gevent.sleep(0.1)


def describe(outcome):
    return CAUSES.get(outcome, outcome)
