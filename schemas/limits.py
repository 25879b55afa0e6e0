"""Bounds on what Nudge reads and writes: shared by both decoding paths, the output records and
the tests that hold the JSON Schemas and the README to them.

Every message a worker produces, and every record it stores, is kept under the producer's
request limit by construction (bounded inputs, capped per-user collections), never discovered
by the producer at send time: one oversized record used to crash a worker, and since the input
that caused it was never committed, every restart crashed again.
"""

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 1024
MAX_PRICE = 1_000_000.0
MAX_ORDER_TOTAL = 100_000_000.0
MAX_QUANTITY = 10_000
MAX_ORDER_ITEMS = 1_000
MAX_CHANNEL_LENGTH = 64
# Event times outside these years are clock bugs, not shoppers.
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

# A message whose value or key is larger is rejected as too_large before it is parsed. A valid
# user id is at most MAX_ID_LENGTH characters, so at most 4 bytes each in UTF-8.
MAX_MESSAGE_BYTES = 512 * 1024
MAX_KEY_BYTES = 4 * MAX_ID_LENGTH
# JSON nested deeper than this is rejected before a parser recurses into it: a valid event nests
# three levels (the purchase, its items, an item), and unknown fields a little more.
MAX_JSON_DEPTH = 32
# An event more than this ahead of its Kafka timestamp is rejected as future_timestamp: one such
# event would otherwise move its partition's clock, and fire every timer in it, far ahead.
DEFAULT_MAX_FUTURE_SKEW_MS = 3_600_000

# What a dead letter keeps: a too_large message's first bytes (with its length and SHA-256), and
# at most this much of a rejection's detail text.
DEAD_LETTER_PREFIX_BYTES = 4096
MAX_DETAIL_LENGTH = 512

# Producers refuse a request over 1,000,000 bytes by default (Kafka's max.request.size, Faust's
# producer_max_request_size); every output and stored record is built to stay well under it.
MAX_OUTPUT_BYTES = 900_000
MAX_USER_RECORD_BYTES = 512 * 1024
MAX_POPULATION_RECORD_BYTES = 768 * 1024  # the online models and the associations at their fullest take about 640 KB
