"""The worker's rule book: the configured rules file, or the default shipped with Nudge.

Read once at start; a bad file stops the worker with one line naming the key and the line.
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.errors import SettingsError
from agents.settings import Settings
from streams.rules.checks import rule_warnings
from streams.rules.loading import RulesError, default_rulebook, load_rulebook_file
from streams.rules.spec import RuleBook


def load_rules(settings: Settings) -> RuleBook:
    try:
        if not settings.rules:
            return default_rulebook()
        return load_rulebook_file(Path(settings.rules))
    except RulesError as exc:
        raise SettingsError(f"invalid rules: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read the rules file {settings.rules}: {exc.strerror or exc}") from None


def warnings_for(book: RuleBook, settings: Settings) -> list[str]:
    """Likely mistakes in the rules (streams/rules/checks.py), against the senders' channels and now."""
    return rule_warnings(book, channels=settings.channel_names, now_ms=int(time.time() * 1000))
