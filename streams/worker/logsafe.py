"""Keep record contents out of the worker's logs, even at DEBUG.

At DEBUG, faust logs every record it sends (``send: topic=... k=... v=...``: stage bundles with
whole events, table changelog values with account state) and aiokafka logs it again
(``Sending (key=... value=...)``), and its connection logs whole produce requests and fetch
responses. Those are full account numbers and amounts in a log file. :class:`RecordContentFilter`
keeps each line (topic, partition, timing) and replaces keys and values by their size, and
requests and responses by their type.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["RecordContentFilter"]

# The format strings that carry records, and the positions of the args holding them.
_CONTENT_ARGS: dict[str, tuple[int, ...]] = {
    "send: topic=%r k=%r v=%r timestamp=%r partition=%r": (1, 2),  # faust topics and driver
    "Sending (key=%s value=%s) to %s": (0, 1),  # aiokafka producer
    "Request to %s:%d %d: %s": (3,),  # aiokafka connection: a whole ProduceRequest
    "Response from %s:%d %d: %s": (3,),  # and a whole FetchResponse
}


def _size(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bytes | bytearray | str):
        return f"<{len(value)} bytes>" if not isinstance(value, str) else f"<{len(value)} chars>"
    return f"<{type(value).__name__}>"


class RecordContentFilter(logging.Filter):
    """Replace the key and value in the clients' per-record log lines by their size.

    >>> record = logging.LogRecord("aiokafka.producer.producer", logging.DEBUG, "", 0,
    ...     "Sending (key=%s value=%s) to %s", (b"6222020200001111", b'{"a": 1}', "tp"), None)
    >>> RecordContentFilter().filter(record), record.getMessage()
    (True, 'Sending (key=<16 bytes> value=<8 bytes>) to tp')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        positions = _CONTENT_ARGS.get(record.msg) if isinstance(record.msg, str) else None
        if positions is not None and isinstance(record.args, tuple):
            args = list(record.args)
            for index in positions:
                if index < len(args):
                    args[index] = _size(args[index])
            record.args = tuple(args)
        return True

    def install(self) -> None:
        """Attach to every handler of the root logger (faust and aiokafka log through it)."""
        for handler in logging.getLogger().handlers:
            if self not in handler.filters:
                handler.addFilter(self)
