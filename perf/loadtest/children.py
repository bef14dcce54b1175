"""The processes a worker starts (uvtunnel, Xvfb, xfreerdp): tied to it, and stopped one way."""

import ctypes
import signal
import subprocess


def die_with_parent():
    """preexec_fn: the kernel sends SIGTERM to the child when its worker dies, so none outlives it."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop(process):
    """SIGTERM, up to 5 s to exit, then SIGKILL; reaps it either way."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
