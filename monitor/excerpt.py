"""What a dead letter keeps of the input it refuses: a bounded excerpt, the size and a hash.

A 50 MB line must not become a 50 MB dead letter (nor a Kafka record over the producer's limit).
Replay's dead-letter file and the worker's dead-letter records both use :func:`dead_letter_excerpt`,
so the same refused line gives the same kept bytes, size and hash in both; the hash identifies the
original bytes for an investigation without copying them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.events import MAX_EVENT_BYTES

__all__ = ["KEEP_WHOLE_BYTES", "MAX_EXCERPT_BYTES", "Excerpt", "dead_letter_excerpt", "excerpt"]

MAX_EXCERPT_BYTES = 4096
"""At most this many bytes of an oversized refused input are kept."""
KEEP_WHOLE_BYTES = MAX_EVENT_BYTES
"""A refused input up to this size (the event size limit) is kept whole: it can be fixed and sent
again. A larger one is oversized (``too_large``) and only its first bytes are kept."""


@dataclass(frozen=True)
class Excerpt:
    data: bytes
    """The first bytes of the input (cut on a UTF-8 character boundary where possible)."""
    size: int
    """Size of the whole input in bytes."""
    sha256: str
    """Hex SHA-256 of the whole input."""

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size

    @property
    def text(self) -> str:
        """The excerpt as text that can always be written as UTF-8: bad bytes become ``\\xNN``."""
        return self.data.decode("utf-8", errors="backslashreplace")


def excerpt(raw: bytes, limit: int = MAX_EXCERPT_BYTES) -> Excerpt:
    """The first ``limit`` bytes of ``raw`` with the size and hash of all of it.

    >>> e = excerpt(b"x" * 10_000)
    >>> len(e.data), e.size, e.truncated
    (4096, 10000, True)
    >>> excerpt(b"\\xff{}").text
    '\\\\xff{}'
    >>> [excerpt("你好".encode(), limit=n).data.decode() for n in (3, 4, 5)]  # no half characters
    ['你', '你', '你']
    """
    data = raw[:limit]
    if len(raw) > limit:
        # Step back over a cut multi-byte character (continuation bytes are 0b10xxxxxx).
        lead = len(data) - 1
        while lead > 0 and lead > len(data) - 4 and (data[lead] & 0xC0) == 0x80:
            lead -= 1
        first = data[lead] if data else 0
        needed = 4 if first >= 0xF0 else 3 if first >= 0xE0 else 2 if first >= 0xC0 else 1
        if len(data) - lead < needed:
            data = data[:lead]
    return Excerpt(data=data, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())


def dead_letter_excerpt(
    raw: bytes, *, keep_whole: int = KEEP_WHOLE_BYTES, limit: int = MAX_EXCERPT_BYTES
) -> Excerpt:
    """What a dead letter keeps of ``raw``: all of it up to ``keep_whole`` bytes, else an excerpt.

    >>> small, big = dead_letter_excerpt(b"x" * 10_000), dead_letter_excerpt(b"x" * 70_000)
    >>> (len(small.data), small.truncated), (len(big.data), big.size, big.truncated)
    ((10000, False), (4096, 70000, True))
    """
    if len(raw) <= keep_whole:
        return Excerpt(data=raw, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    return excerpt(raw, limit)
