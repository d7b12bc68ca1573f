"""Lower the CPU priority of worker processes so webhook intake and the UI stay responsive.

Why: runs wait in a queue, requests wait on a socket. When workers and the web server share
cores and the CPU is saturated, every millisecond a worker takes is a millisecond added to a
webhook caller's latency, while a run that starts a little later loses nothing. So workers run
"nice": they still get every idle cycle, but yield the CPU when the web server needs it.

On Linux a plain ``nice`` is not enough across sessions: with autogroup scheduling (the
default on most distributions) the kernel first shares the CPU fairly between *sessions* and
only then by nice value inside each one. A worker started as its own service (systemd, a
container entry point, ``setsid``) leads its own session, so it also lowers its session's
autogroup through ``/proc/self/autogroup``. When it does not lead a session (started from an
interactive shell), the autogroup is the shell's and is left alone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def lower_cpu_priority(increment: int) -> dict[str, int | bool]:
    """Raise this process's nice value by ``increment`` (0 = leave it) and, when this process
    leads its own session, set the session's autogroup nice to the same value.

    Children started afterwards inherit both. Returns what was applied, for the start-up log.
    """
    applied: dict[str, int | bool] = {"nice": os.getpriority(os.PRIO_PROCESS, 0), "autogroup": False}
    if increment <= 0:
        return applied
    with contextlib.suppress(OSError):
        applied["nice"] = os.nice(increment)
    if os.getsid(0) == os.getpid() and AUTOGROUP.exists():
        with contextlib.suppress(OSError):
            AUTOGROUP.write_text(str(min(increment, 19)))
            applied["autogroup"] = True
    return applied

