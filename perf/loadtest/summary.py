"""Reads Locust's CSV of a load test (PREFIX_stats.csv).

  summary.py PREFIX WORKERS
      prints `loadtest: N sessions, F failed, setup p99 X ms, frame delay p99 Y ms, W workers`;
      exit 1 if any session failed (or none was tried)
  summary.py PREFIX WORKERS --check USERS SECONDS
      also checks what a short run through the bundled gateway must show (CI):
      every user's session up and none failed, and the numbers plausible for
      uvperf serve's frame shape; each problem is one line, exit 1
"""

import csv
import sys


def rows(prefix):
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}


def exceptions(prefix):
    """Errors in the locustfile itself (Locust's _exceptions.csv): each ended a session."""
    try:
        with open(f"{prefix}_exceptions.csv", newline="") as f:
            return sum(int(r["Count"]) for r in csv.DictReader(f))
    except FileNotFoundError:
        return 0


def row(table, name):
    for (kind, row_name), r in table.items():
        if row_name == name and kind != "":
            return r
    return None


def number(r, column):
    if r is None or r.get(column) in (None, "", "N/A"):
        return 0.0
    return float(r[column])


def main(argv):
    prefix, workers = argv[0], int(argv[1])
    table = rows(prefix)
    setup = row(table, "setup")
    frames = row(table, "frame delay")
    inputs = row(table, "input rtt")
    ended = row(table, "session bytes")
    sessions = int(number(setup, "Request Count"))
    failed = int(number(table.get(("", "Aggregated")), "Failure Count")) + exceptions(prefix)
    setup_p99 = number(setup, "99%")
    frame_p99 = number(frames, "99%")
    print(f"loadtest: {sessions} sessions, {failed} failed, setup p99 {setup_p99:g} ms, "
          f"frame delay p99 {frame_p99:g} ms, {workers} workers")
    status = 0 if sessions > 0 and failed == 0 else 1
    if len(argv) > 2 and argv[2] == "--check":
        problems = check(int(argv[3]), float(argv[4]), sessions, failed, setup, frames, inputs, ended)
        for p in problems:
            print(f"loadtest check: {p}", file=sys.stderr)
        if problems:
            status = 1
    return status


def check(users, seconds, sessions, failed, setup, frames, inputs, ended):
    """Problems with a run of USERS held sessions for SECONDS (empty: all good)."""
    p = []
    # uvperf serve's shape: 30 frames/s plus a burst of 4 every 30, frames of 1-16 KiB.
    offered_per_session = 30 * (1 + 4 / 30) * seconds + 5  # + the first frame and a burst at the edge
    if sessions != users:
        p.append(f"{sessions} sessions tried, expected one per user ({users}): a session was retried or never started")
    if failed:
        p.append(f"{failed} failures (see the _failures.csv)")
    if number(setup, "Request Count") - number(setup, "Failure Count") != users:
        p.append(f"{number(setup, 'Request Count') - number(setup, 'Failure Count'):g} sessions up, expected {users}")
    if not 0 < number(setup, "99%") < 30000:
        p.append(f"setup p99 {number(setup, '99%'):g} ms: not between 0 and the 30 s setup timeout")
    if not 0 < number(setup, "Median Response Time") <= number(setup, "99%"):
        p.append("setup median not between 0 and its p99")
    n_frames = number(frames, "Request Count")
    if not users <= n_frames <= users * offered_per_session:
        p.append(f"{n_frames:g} frames: expected at least one per session and at most the {users * offered_per_session:g} offered")
    if not 1024 <= number(frames, "Average Content Size") <= 16384:
        p.append(f"average frame {number(frames, 'Average Content Size'):g} bytes: uvperf serve sends 1-16 KiB")
    if not 0 < number(frames, "99%") < seconds * 1000:
        p.append(f"frame delay p99 {number(frames, '99%'):g} ms: not between 0 and the run's length")
    if number(frames, "Min Response Time") < 0:
        p.append("a negative frame delay: the clocks disagree")
    n_inputs = number(inputs, "Request Count")
    if not users <= n_inputs <= users * (60 * seconds + 60):
        p.append(f"{n_inputs:g} input echoes: expected at least one per session and at most 60/s each")
    if number(inputs, "Average Content Size") != 50:
        p.append(f"average input {number(inputs, 'Average Content Size'):g} bytes, sent 50")
    if not 0 < number(inputs, "99%") < seconds * 1000:
        p.append(f"input rtt p99 {number(inputs, '99%'):g} ms: not between 0 and the run's length")
    if number(ended, "Request Count") != users:
        p.append(f"{number(ended, 'Request Count'):g} sessions ended with a byte count, expected {users}")
    down = number(frames, "Request Count") * number(frames, "Average Content Size")
    if number(ended, "Average Content Size") * users < 0.99 * down:  # averages are rounded
        p.append("sessions counted fewer bytes than their frames hold")
    return p


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
