"""One real RDP session: xfreerdp through the worker's uvtunnel.

With hold 0 it is a logon (`+auth-only`: TLS, NLA, and exit 0 on success), the
setup time being the logon; otherwise a full session of /size:800x600 held for
`hold` seconds and then ended by us, the setup time being xfreerdp's start to
its connection reaching CONNECTION_STATE_ACTIVE (its connection log at debug
level, line-buffered with stdbuf: xfreerdp's stdio buffer would hold the line).
xfreerdp needs an X display even for `+auth-only`: each worker process starts
one Xvfb for its clients.
"""

import os
import re
import shutil
import subprocess
import time

import gevent

import children
from rdpshaped import ClosedBeforeOpen, SessionFailed

# xfreerdp 2's connection state machine, logged at debug level: the session is up.
UP = re.compile(rb"--> CONNECTION_STATE_ACTIVE")
REFUSED_AT_CONNECT = re.compile(rb"(ERRCONNECT_CONNECT_TRANSPORT_FAILED|ERRCONNECT_CONNECT_FAILED|transport_connect|Connection reset|unexpected EOF|BIO_read returned a system error)", re.I)


class Display:
    """One Xvfb per worker process, for its xfreerdp clients (if DISPLAY is not set)."""

    def __init__(self):
        self.process = None
        self.name = os.environ.get("DISPLAY")

    def ensure(self):
        if self.name:
            return self.name
        if not shutil.which("Xvfb"):
            raise SessionFailed("xfreerdp needs an X display: install xvfb or set DISPLAY")
        read, write = os.pipe()
        self.process = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=children.die_with_parent)
        os.close(write)
        number = b""
        with os.fdopen(read, "rb") as pipe:
            number = pipe.readline().strip()
        if not number:
            raise SessionFailed("Xvfb did not start")
        # The number comes a moment before the display accepts clients.
        socket_path = "/tmp/.X11-unix/X" + number.decode()
        for _ in range(50):
            if os.path.exists(socket_path):
                break
            gevent.sleep(0.1)
        gevent.sleep(0.3)
        self.name = ":" + number.decode()
        return self.name

    def stop(self):
        children.stop(self.process)


class RealRDPSession:
    def __init__(self, address, xfreerdp, display, user, password, hold, setup_timeout):
        self.address = address
        self.xfreerdp = xfreerdp
        self.display = display
        self.user = user
        self.password = password
        self.hold_seconds = hold
        self.setup_timeout = setup_timeout
        self.process = None
        self.opened_at = None
        self.output = b""

    def _command(self):
        host, port = self.address
        command = [self.xfreerdp, f"/v:{host}:{port}", "/cert:ignore", f"/u:{self.user}", f"/p:{self.password}"]
        if self.hold_seconds:
            command = ["stdbuf", "-oL"] + command + ["/size:800x600", "/log-filters:com.freerdp.core.connection:DEBUG"]
        else:
            command.append("+auth-only")
        return command

    def open(self):
        """Logs on (auth-only) or waits for the session to be up; returns the setup time in ms."""
        started = time.monotonic_ns()
        env = dict(os.environ, DISPLAY=self.display.ensure())
        self.process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, env=env, preexec_fn=children.die_with_parent)
        if not self.hold_seconds:
            try:
                self.output, _ = self.process.communicate(timeout=self.setup_timeout)
            except subprocess.TimeoutExpired:
                self.close()
                raise SessionFailed(f"no logon within {self.setup_timeout:g} s")
            if self.process.returncode != 0:
                raise self._failure_before_open()
            self.opened_at = time.monotonic()
            return (time.monotonic_ns() - started) / 1e6
        deadline = time.monotonic() + self.setup_timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait()
                raise self._failure_before_open()
            self.output += line
            if UP.search(line):
                self.opened_at = time.monotonic()
                gevent.spawn(self._drain)
                return (time.monotonic_ns() - started) / 1e6
        self.close()
        raise SessionFailed(f"session not up within {self.setup_timeout:g} s")

    def _failure_before_open(self):
        tail = self.output.decode("utf-8", "replace").strip().splitlines()[-1:] or ["(no output)"]
        if REFUSED_AT_CONNECT.search(self.output):
            return ClosedBeforeOpen(f"xfreerdp exit {self.process.returncode}: {tail[0][-120:]}")
        return SessionFailed(f"xfreerdp exit {self.process.returncode}: {tail[0][-120:]}")

    def _drain(self):
        for _ in iter(self.process.stdout.readline, b""):
            pass

    def hold(self, seconds):
        if not self.hold_seconds:
            return  # a logon: xfreerdp has already exited 0
        try:
            self.process.wait(timeout=seconds or None)
        except subprocess.TimeoutExpired:
            return
        raise SessionFailed(f"closed mid-session (xfreerdp exit {self.process.returncode})")

    def close(self):
        children.stop(self.process)

    @property
    def held_ms(self):
        return (time.monotonic() - self.opened_at) * 1000 if self.opened_at else 0

    bytes_up = 0
    bytes_down = 0
