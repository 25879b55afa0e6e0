"""How the long-running tools (``generate --out``, ``record``, both replays) show how far they are."""

from __future__ import annotations

import sys
from typing import Callable, TextIO

LOG_EVERY_S = 5.0  # off a terminal, a progress line this often
PROGRESS_LINES = 4096  # a tool going through lines looks at the clock once per this many


def progress_printer(stream: TextIO = sys.stderr, *, label: str = "replay", verb: str = "sent", closing: bool = True) -> Callable[[int, int, float], None]:
    """A progress bar on a terminal, a log line every few seconds otherwise. A ``total`` of 0 is
    unknown: the count and the rate, without a share or an ETA. ``closing``: log a last line at
    the end too (a command whose own summary follows says ``False``)."""
    last_log = [0.0]

    def show(done: int, total: int, elapsed_s: float) -> None:
        rate = done / elapsed_s if elapsed_s > 0 else 0.0
        finished = total > 0 and done >= total
        if total <= 0:
            if elapsed_s - last_log[0] >= LOG_EVERY_S:
                last_log[0] = elapsed_s
                stream.write(f"{label}: {done:,} {verb}, {rate:,.0f}/s\n")
                stream.flush()
            return
        eta = (total - done) / rate if rate > 0 else 0.0
        share = done / total
        if stream.isatty():
            bar = "#" * int(share * 30)
            stream.write(f"\r[{bar:<30}] {done:,}/{total:,} {verb}  {rate:,.0f}/s  ETA {eta:,.0f} s ")
            if finished:
                stream.write("\n")
            stream.flush()
        elif elapsed_s - last_log[0] >= LOG_EVERY_S or (finished and closing):
            last_log[0] = elapsed_s
            stream.write(f"{label}: {done:,}/{total:,} {verb} ({share:.0%}), {rate:,.0f}/s, ETA {eta:,.0f} s\n")
            stream.flush()

    return show
