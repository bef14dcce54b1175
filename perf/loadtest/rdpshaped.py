"""One rdp-shaped session: the client side of uvperf serve's "r" mode.

Wire (perf/Sources/uvperf/Wire.swift): the client's first byte is the mode
(0x72, rdp with input echo), the server answers one ack byte once the tunnel is
open end to end, then sends frames of 1-16 KiB at 30/s with bursts, each with a
12-byte header: length (UInt32, little-endian) and the time the server queued
it (UInt64 ns, CLOCK_MONOTONIC). Inputs the client sends (50 bytes at 60/s,
starting with the client's own send time) come back in echo records: the same
header with the length's top bit set, then the input bytes as the server read
them. The first input starts the frames, and the first frame goes out at once.
"""

import struct
import time

import gevent
import gevent.socket

MODE = b"r"
ACK = 0x2B
HEADER = struct.Struct("<IQ")
ECHO_FLAG = 0x8000_0000
STAMP = struct.Struct("<Q")


class SessionFailed(Exception):
    """A session that ended badly; the message is the cause Locust groups failures by."""


class ClosedBeforeOpen(Exception):
    """The local connection closed (or was refused) before the tunnel opened."""


class ClockOffset:
    """Server clock minus client clock, from the input echoes.

    On one machine both are the same CLOCK_MONOTONIC and the offset is 0;
    a frame server on another machine has another clock, and the offset is
    estimated as NTP does, from the echo with the shortest round trip. An
    estimate within that round trip of 0 is taken as "same clock".
    """

    def __init__(self):
        self.best_rtt = None
        self.offset = 0

    def sample(self, client_sent, server_read, client_received):
        rtt = client_received - client_sent
        if self.best_rtt is not None and rtt >= self.best_rtt:
            return
        self.best_rtt = rtt
        estimate = server_read - (client_sent + rtt // 2)
        self.offset = 0 if abs(estimate) <= rtt else estimate


class RDPShapedSession:
    """Connects through the worker's uvtunnel and runs one session.

    `report(name, milliseconds, length)` records a sample; it is called from
    this greenlet only.
    """

    def __init__(self, address, input_rate, input_size, setup_timeout, report):
        self.address = address
        self.input_period = 1.0 / input_rate
        self.input_size = max(input_size, STAMP.size)
        self.setup_timeout = setup_timeout
        self.report = report
        self.sock = None
        self.bytes_down = 0
        self.bytes_up = 0
        self.inputs_sent = 0
        self.inputs_echoed = 0
        self.opened_at = None
        self.clock = ClockOffset()
        self._header = bytearray()
        self._remaining = 0
        self._echo = False
        self._stamp = 0
        self._length = 0
        self._echo_bytes = bytearray()
        self._echo_read_at = 0
        self._inputs = None

    def open(self):
        """Connect and wait for the first frame; returns the setup time in ms."""
        started = time.monotonic_ns()
        try:
            self.sock = gevent.socket.create_connection(self.address, timeout=self.setup_timeout)
        except ConnectionRefusedError:
            raise ClosedBeforeOpen("uvtunnel refused the local connection")
        except OSError as error:
            raise SessionFailed(f"local connect to uvtunnel failed: {error.strerror or error}")
        self.sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
        self.sock.sendall(MODE + self._input())
        deadline = time.monotonic() + self.setup_timeout
        acked = False
        while True:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise SessionFailed(f"no first frame within {self.setup_timeout:g} s"
                                    + ("" if acked else " (the tunnel never opened)"))
            except OSError:
                data = b""
            if not data:
                if not acked:
                    raise ClosedBeforeOpen("closed before the tunnel opened")
                raise SessionFailed("closed mid-session (before the first frame)")
            if not acked:
                if data[0] != ACK:
                    raise SessionFailed(f"not a uvperf frame server (first byte {data[0]:#x})")
                acked = True
                data = data[1:]
            if self._consume(data, time.monotonic_ns()):
                break
        self.opened_at = time.monotonic()
        self.sock.settimeout(None)
        self._inputs = gevent.spawn(self._send_inputs)
        return (time.monotonic_ns() - started) / 1e6

    def hold(self, seconds):
        """Reads frames until `seconds` pass (0: until killed). Raises SessionFailed if closed early."""
        deadline = time.monotonic() + seconds if seconds else None
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            except OSError as error:
                raise SessionFailed(f"closed mid-session ({error.strerror or error})")
            if not data:
                raise SessionFailed("closed mid-session")
            self._consume(data, time.monotonic_ns())

    def close(self):
        if self._inputs is not None:
            self._inputs.kill()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def held_ms(self):
        return (time.monotonic() - self.opened_at) * 1000 if self.opened_at else 0

    # --- inputs ---------------------------------------------------------------
    def _input(self):
        self.inputs_sent += 1
        self.bytes_up += self.input_size
        return STAMP.pack(time.monotonic_ns()) + b"a" * (self.input_size - STAMP.size)

    def _send_inputs(self):
        """60/s on an absolute schedule; a slot missed (the tunnel stalled the send) is skipped."""
        sock = self.sock  # close() clears self.sock; a kill may land after it
        next_at = time.monotonic() + self.input_period
        while True:
            gevent.sleep(max(next_at - time.monotonic(), 0))
            try:
                sock.sendall(self._input())
            except OSError:
                return  # closed: the reading side reports how the session ended
            next_at += self.input_period
            now = time.monotonic()
            if next_at < now:
                next_at = now + self.input_period

    # --- frames and echoes ------------------------------------------------------
    def _consume(self, data, now):
        """Parses frames and echo records; True once a frame has completed in `data`."""
        self.bytes_down += len(data)
        framed = False
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self._remaining == 0:
                need = HEADER.size - len(self._header)
                self._header += view[i:i + need]
                i += min(need, n - i)
                if len(self._header) < HEADER.size:
                    break
                length, self._stamp = HEADER.unpack(self._header)
                self._header.clear()
                self._echo = bool(length & ECHO_FLAG)
                self._length = length & ~ECHO_FLAG
                self._remaining = self._length - HEADER.size
                if self._echo:
                    self._echo_read_at = self._stamp
                if self._remaining <= 0:
                    self._remaining = 0
                    continue
            take = min(self._remaining, n - i)
            if self._echo:
                self._echo_bytes += view[i:i + take]
            self._remaining -= take
            i += take
            if self._remaining == 0:
                if self._echo:
                    self._echoed(now)
                else:
                    framed = True
                    delay = (now - (self._stamp - self.clock.offset)) / 1e6
                    if self.clock.offset:
                        delay = max(delay, 0)  # an estimated offset is good to about half a round trip
                    self.report("frame delay", delay, self._length)
        return framed

    def _echoed(self, now):
        size = self.input_size
        while len(self._echo_bytes) >= size:
            (sent,) = STAMP.unpack_from(self._echo_bytes)
            del self._echo_bytes[:size]
            self.inputs_echoed += 1
            self.clock.sample(sent, self._echo_read_at, now)
            # The first input went out with the mode byte, before the tunnel
            # opened: its round trip is the setup, not an input's.
            if self.opened_at is not None:
                self.report("input rtt", (now - sent) / 1e6, size)
