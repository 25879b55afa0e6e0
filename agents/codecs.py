"""Faust codecs for the worker's tables: UTF-8 keys, UserRecord and Population values.

Registering them lets Faust's own changelog recovery rebuild UserRecord objects, while the
worker writes records it has already encoded (so a record is serialised as it was at the end of
its batch, not whenever the producer buffer drains).
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from agents.records import decode_population, decode_record, encode_population, encode_record

USER_KEY = "nudge-user-key"
USER_RECORD = "nudge-user-record"
POPULATION = "nudge-population"


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


class _PopulationCodec(codecs.Codec):
    def _dumps(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else encode_population(value)

    def _loads(self, raw: bytes) -> Any:
        return decode_population(raw)


def register() -> None:
    codecs.register(USER_KEY, _Utf8())
    codecs.register(USER_RECORD, _UserRecordCodec())
    codecs.register(POPULATION, _PopulationCodec())
