"""Time-ordered UUIDs (RFC 9562 version 7) for primary keys.

Random v4 keys scatter inserts across the whole B-tree; v7 keys start with a millisecond
timestamp, so new rows land at the right edge of the index, as with a sequence, while
staying globally unique and unguessable enough (74 random bits) for API identifiers.
"""

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits (rand_a)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits (rand_b)
    return uuid.UUID(int=value)
