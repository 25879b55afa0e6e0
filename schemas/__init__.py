"""The contracts: input events, the outputs (triggers, suppressions, conversions), dead letters,
and decoding of raw bytes."""

from schemas import compiled  # noqa: F401  first: it decides which build of the core's modules loads
from schemas.decoding import RejectReason, Rejection, decode_event
from schemas.events import (
    ALL_CHANNELS,
    Activity,
    Click,
    ClickAction,
    Consent,
    Engagement,
    EngagementType,
    Erasure,
    Event,
    InputTopic,
    LineItem,
    Purchase,
    Search,
)
from schemas.outputs import (
    Conversion,
    ConversionGroup,
    DeadLetter,
    ErasureDone,
    Output,
    Suppression,
    SuppressionReason,
    Trigger,
    trigger_id_for,
)
from schemas.timestamps import format_rfc3339, parse_rfc3339

__all__ = [
    "ALL_CHANNELS",
    "Activity",
    "Click",
    "ClickAction",
    "Consent",
    "Conversion",
    "ConversionGroup",
    "ErasureDone",
    "DeadLetter",
    "Engagement",
    "EngagementType",
    "Erasure",
    "Event",
    "InputTopic",
    "LineItem",
    "Output",
    "Purchase",
    "RejectReason",
    "Rejection",
    "Search",
    "Suppression",
    "SuppressionReason",
    "Trigger",
    "decode_event",
    "format_rfc3339",
    "parse_rfc3339",
    "trigger_id_for",
]
