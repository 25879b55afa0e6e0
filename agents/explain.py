"""``nudge explain USER --recording FILE``: why, and why not, for one user, from a recording.

The recording goes through the core offline (streams/replay.py), as ``nudge replay --offline``
would take it, and the user's decision trace (streams/decisions.py) and pending timers are
printed as a worker's ``GET /profiles/{user}/decisions`` gives them: newest first, in the user's
own time zone.
"""

from __future__ import annotations

import gc
from pathlib import Path

from agents.errors import SettingsError
from agents.recording import BadLine, open_recording, read_recording
from streams import decisions
from streams.config import ProfileConfig
from streams.partitioning import partition_for
from streams.replay import OfflineReplay
from streams.rules.spec import RuleBook


def explain(path: Path, user_id: str, *, book: RuleBook, partitions: int, profile_config: ProfileConfig, max_future_skew_ms: int) -> list[str]:
    """The lines to print: the user's decisions, then what is still pending for them."""
    replay = OfflineReplay(book, partitions=partitions, profile_config=profile_config, max_future_skew_ms=max_future_skew_ms)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with open_recording(path, "r") as source:
            for item in read_recording(source):
                if not isinstance(item, BadLine):
                    replay.feed(item.message)
            replay.finish()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except EOFError:
        raise SettingsError(f"{path} ends in the middle of its gzip stream") from None
    finally:
        if was_enabled:
            gc.enable()
    number = partition_for(user_id.encode(), partitions)
    state = None
    for found, runner in replay.partitions():
        if found == number:
            state = runner.engine.store.get(user_id)
    if state is None:
        raise SettingsError(f"no user {user_id!r} in {path} (or they asked to be forgotten)")
    trace = decisions.view(state)
    lines = [f"{user_id}: {len(trace)} decision(s), newest first, in their time zone"]
    lines += [f"  {entry['at']}  {entry['rule']:<18}  {entry['outcome']:<10}  {entry['reason']}" for entry in trace]
    pending = decisions.timers_view(state)
    if pending:
        lines.append(f"pending at the end of the recording: {len(pending)} timer(s)")
        lines += [f"  {timer['due']}  {timer['rule']}" for timer in pending]
    return lines
