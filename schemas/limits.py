"""What a valid input message may hold: bounds shared by both decoding paths and the JSON Schemas' tests."""

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
