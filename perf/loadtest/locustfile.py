"""Locust load test: each user is one RDP session through uvtunnel.

Each worker process runs one uvtunnel for all its users (route and flags from
the options below, or --uvtunnel-config), started with its first session and
stopped when the worker quits. Session kinds (--session-kind):

  rdp-shaped (default)  uvperf serve's frames (1-16 KiB at 30/s with bursts) down,
                        50-byte inputs at 60/s up, echoed; behind the gateway
  rdp-real              one xfreerdp per user: a logon (+auth-only) or, with
                        --rdp-hold S, a full session held S seconds

What goes into Locust's statistics (type "rdp-shaped" or "rdp-real"):
  setup          connect to first frame (or logon), ms; failures by cause
  frame delay    server queued the frame -> its last byte here, ms; size = frame bytes
  input rtt      input sent -> its echo back, ms
  session bytes  one per session ended: time held (ms), size = bytes both ways;
                 failures: "closed mid-session"

Run it with perf/loadtest/run, or by hand (README, "RDP load tests").
"""

import atexit
import logging
import os
import resource
import shutil
import time

import gevent
import locust.stats
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from rdpreal import Display, RealRDPSession
from rdpshaped import ClosedBeforeOpen, RDPShapedSession, SessionFailed
from tunnel import TunnelFailedToStart, WorkerTunnel, describe


@events.init_command_line_parser.add_listener
def _(parser):
    group = parser.add_argument_group("uvtunnel RDP sessions (perf/loadtest)")
    group.add_argument("--session-kind", choices=["rdp-shaped", "rdp-real"], default="rdp-shaped",
                       help="rdp-shaped: uvperf serve's frames and echoed inputs; rdp-real: xfreerdp per user")
    group.add_argument("--route", default="", help="uvtunnel ROUTE to the frame server or RDP server (host:port, or a URL)")
    group.add_argument("--uvtunnel-flags", default="",
                       help='more uvtunnel flags, one string: "--pomerium-url URL --service-account-file F --multiplex"')
    group.add_argument("--uvtunnel-config", default="",
                       help="run uvtunnel --config FILE instead; its first route is used (listen on 127.0.0.1:0 so workers on one machine do not collide)")
    group.add_argument("--uvtunnel-bin", default="uvtunnel", help="the uvtunnel binary (a worker's UVTUNNEL_BIN wins)")
    group.add_argument("--uvtunnel-log-dir", default="",
                       help="folder for each worker's uvtunnel log (a worker's UVTUNNEL_LOG_DIR wins; default: a temporary folder)")
    group.add_argument("--session-seconds", type=float, default=0,
                       help="end each session after this long and open another; 0 holds it until the test stops")
    group.add_argument("--setup-timeout", type=float, default=30, help="seconds a session may take to show its first frame (or log on)")
    group.add_argument("--input-rate", type=float, default=60, help="rdp-shaped: inputs per second per session")
    group.add_argument("--input-size", type=int, default=50, help="rdp-shaped: bytes per input")
    group.add_argument("--rdp-user", default="test", help="rdp-real: user name")
    group.add_argument("--rdp-password", default="test", help="rdp-real: password")
    group.add_argument("--rdp-hold", type=float, default=0,
                       help="rdp-real: hold a full session this many seconds; 0 = logon only (+auth-only), then the next")
    group.add_argument("--xfreerdp", default="xfreerdp", help="rdp-real: the xfreerdp binary")


class Worker:
    """What one worker process shares between its users: the uvtunnel and, for xfreerdp, the display."""

    tunnel = None
    display = None
    # For the line each worker logs at the end: its own CPU per session-second,
    # the figure that says how many sessions one worker process can carry.
    session_seconds = 0.0
    sessions = 0
    inputs_sent = 0
    inputs_echoed = 0
    input_rate = 0.0

    @classmethod
    def get(cls, options):
        if cls.tunnel is None:
            # Locust hands every worker the master's options, so what differs per
            # worker machine comes from the worker's own environment first.
            binary = os.environ.get("UVTUNNEL_BIN") or options.uvtunnel_bin
            log_dir = os.environ.get("UVTUNNEL_LOG_DIR") or options.uvtunnel_log_dir
            cls.tunnel = WorkerTunnel(binary, options.route, options.uvtunnel_flags, options.uvtunnel_config, log_dir)
        return cls.tunnel

    @classmethod
    def stop(cls, **_):
        if cls.sessions:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            per = f" ({cpu / cls.session_seconds * 1000:.2f} ms CPU per session-second)" if cls.session_seconds >= 1 else ""
            # Inputs go out on a fixed schedule, one per slot; a worker short of
            # CPU misses slots, so "sent of scheduled" says whether it kept up.
            scheduled = int(cls.session_seconds * cls.input_rate)
            echoed = (f", inputs: {cls.inputs_sent} sent of {scheduled} scheduled, {cls.inputs_echoed} echoed"
                      if cls.inputs_sent else "")
            logging.info(f"loadtest worker {os.getpid()}: {cls.sessions} sessions, {cls.session_seconds:.0f} session-seconds, "
                         f"{cpu:.1f} s CPU{per}{echoed}")
            cls.sessions = 0
        if cls.tunnel is not None:
            cls.tunnel.stop()
        if cls.display is not None:
            cls.display.stop()


events.quitting.add_listener(Worker.stop)
atexit.register(Worker.stop)


# Ending held sessions before the numbers are final. Left to itself, a master
# at the end of the run sends "quit", waits half a second for the workers' last
# reports and stops listening: the sessions a worker ends on "quit" (their
# "session bytes") would miss the report. So when the test is stopping, the
# master asks every worker to end its sessions and report, and waits (up to
# 30 s) until each says it has.
@events.init.add_listener
def _(environment, **_):
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        def end_sessions(environment, msg, **_):
            runner.stop()  # kills the users: each ends its session and records it
            runner._send_stats()  # now, not at the next 3 s report
            runner.send_message("loadtest_sessions_ended")
        runner.register_message("loadtest_end_sessions", end_sessions, concurrent=True)
    elif isinstance(runner, MasterRunner):
        ended = set()
        runner.register_message("loadtest_sessions_ended", lambda environment, msg, **_: ended.add(msg.node_id))

        @events.test_stopping.add_listener
        def _(environment, **_):
            ended.clear()
            workers = {client.id for client in runner.clients.all}
            runner.send_message("loadtest_end_sessions")
            deadline = time.monotonic() + 30
            while not workers <= ended and time.monotonic() < deadline:
                gevent.sleep(0.1)


@events.quitting.add_listener
def _(environment, **_):
    # Locust's CSV writer rewrites the _stats.csv once a second; the workers'
    # last report (the sessions ended by the stop) arrives after its last turn.
    # One more turn before the files close, so the CSV holds every session.
    if getattr(environment.parsed_options, "csv_prefix", None) and not isinstance(environment.runner, WorkerRunner):
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.2)


class RDPSession(User):
    """One RDP session through the worker's uvtunnel, held until the test stops (or --session-seconds)."""

    # After a failed or finished session, the next one starts a second later:
    # a refused user does not spin.
    wait_time = constant(1)

    def on_start(self):
        self.options = self.environment.parsed_options
        self.kind = self.options.session_kind

    def _report(self, name, milliseconds, length=0, exception=None):
        if name == "session bytes":
            Worker.sessions += 1
            Worker.session_seconds += (milliseconds or 0) / 1000
        self.environment.events.request.fire(request_type=self.kind, name=name, response_time=milliseconds,
                                             response_length=length, exception=exception, context={})

    def _session(self, address):
        o = self.options
        if self.kind == "rdp-shaped":
            return RDPShapedSession(address, o.input_rate, o.input_size, o.setup_timeout, self._report)
        if not shutil.which(o.xfreerdp):
            raise SessionFailed(f"{o.xfreerdp} not installed (apt-get install freerdp2-x11)")
        if Worker.display is None:
            Worker.display = Display()
        return RealRDPSession(address, o.xfreerdp, Worker.display, o.rdp_user, o.rdp_password, o.rdp_hold, o.setup_timeout)

    def _cause(self, tunnel, wait_seconds, fallback):
        outcome = tunnel.failure_cause(wait_seconds)
        return SessionFailed(describe(outcome) if outcome else fallback)

    @task
    def session(self):
        tunnel = Worker.get(self.options)
        try:
            address = tunnel.ensure_started()
        except TunnelFailedToStart as error:
            self._report("setup", None, exception=SessionFailed(str(error)))
            return
        session = None
        try:
            session = self._session(address)
            try:
                setup_ms = session.open()
            except ClosedBeforeOpen as error:
                # uvtunnel closed the connection: it counted why (403, sign-in, unreachable...).
                self._report("setup", None, exception=self._cause(tunnel, 3, str(error)))
                return
            except SessionFailed as error:
                self._report("setup", None, exception=self._cause(tunnel, 0, str(error)))
                return
            self._report("setup", setup_ms)
            hold = self.options.session_seconds if self.kind == "rdp-shaped" else self.options.rdp_hold
            try:
                session.hold(hold)
            except SessionFailed as error:
                cause = tunnel.failure_cause(0.5)
                detail = f"{error} ({describe(cause)})" if cause else str(error)
                self._report("session bytes", session.held_ms, session.bytes_up + session.bytes_down,
                             exception=SessionFailed(detail))
                return
            self._report("session bytes", session.held_ms, session.bytes_up + session.bytes_down)
        except (SessionFailed, OSError) as error:
            # Anything else that ends a session early is a failure with its
            # cause, not a Locust "exception" the summary would not count.
            self._report("setup" if session is None or session.opened_at is None else "session bytes",
                         None, exception=SessionFailed(f"session error: {error}"))
        except gevent.GreenletExit:
            # The test stopped: a held session ends well.
            if session is not None and session.opened_at is not None:
                self._report("session bytes", session.held_ms, session.bytes_up + session.bytes_down)
            raise
        finally:
            if session is not None:
                session.close()
                Worker.input_rate = self.options.input_rate
                Worker.inputs_sent += getattr(session, "inputs_sent", 0)
                Worker.inputs_echoed += getattr(session, "inputs_echoed", 0)
