"""The one exception base of the Faust layer: the CLI prints these as one line, never a traceback."""


class NudgeError(Exception):
    """A problem a user can fix: a wrong setting, an unreachable broker, a bad file."""


class SettingsError(NudgeError):
    """A setting has a value Nudge cannot use."""


class BrokerUnavailable(NudgeError):
    """The Kafka broker cannot be reached or answered wrongly."""
