"""Faust codecs for the users table: UTF-8 keys and UserRecord values.

Registering them lets Faust's own changelog recovery rebuild UserRecord objects, while the
worker writes records it has already encoded (so a record is serialised as it was at the end of
its batch, not whenever the producer buffer drains).
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from agents.records import decode_record, encode_record

USER_KEY = "nudge-user-key"
USER_RECORD = "nudge-user-record"


class _Utf8(codecs.Codec):
    def _dumps(self, value: Any) -> bytes:
        return value.encode() if isinstance(value, str) else value

    def _loads(self, raw: bytes) -> str:
        return raw.decode()


class _UserRecordCodec(codecs.Codec):
    def _dumps(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else encode_record(value)

    def _loads(self, raw: bytes) -> Any:
        return decode_record(raw)


def register() -> None:
    codecs.register(USER_KEY, _Utf8())
    codecs.register(USER_RECORD, _UserRecordCodec())
