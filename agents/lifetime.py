"""Child processes that die with the process that started them, even when it is SIGKILLed.

The embedded broker and the demo's worker and generator run in sessions of their own (a Ctrl-C
meant for one must not reach the others), so a signal to the parent's group never reaches them,
and a SIGKILLed parent runs no clean-up: without this they would live on, holding their ports.
Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) asks the kernel to send them SIGTERM
when their parent goes, however it goes.

The kernel ties that signal to the thread that forked the child: start these children from a
thread that lives as long as they should (Nudge starts them from the main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A ``preexec_fn``: in the child, between fork and exec, ask for SIGTERM when the parent dies.
    If the parent already died before the call, the child is an orphan at once: it stops itself."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
