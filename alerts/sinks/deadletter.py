"""Dead-letter files: one JSON object per line for each notification a sink gave up on.

Each line holds the sink name, the last error, the attempts made and the notification itself, so
:func:`replay_dead_letters` can hand the notifications back to a sink once it has recovered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.notification import Notification

if TYPE_CHECKING:  # only for annotations; base imports this module at run time
    from alerts.sinks.base import BufferedSink

__all__ = ["DeadLetterFile", "replay_dead_letters"]


class DeadLetterFile:
    """An append-only JSONL file of undelivered notifications."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, sink: str, error: str, attempts: int, notification: Notification) -> None:
        record = {
            "sink": sink,
            "error": error,
            "attempts": attempts,
            "notification": notification.to_dict(),
        }
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab", buffering=0) as out:
            size = out.tell()
            try:
                rest = memoryview(line)
                while rest:
                    rest = rest[out.write(rest) or 0 :]
            except OSError:
                # A full disk: take back a partly written line so the file stays readable.
                out.truncate(size)
                raise

    def read(self) -> list[Notification]:
        """Every notification in the file, oldest first; an absent file holds none."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as lines:
            return [
                Notification.from_dict(json.loads(line)["notification"])
                for line in lines
                if line.strip()
            ]


def replay_dead_letters(path: Path, sink: BufferedSink) -> int:
    """Hand every dead-lettered notification in ``path`` back to ``sink`` and flush it.

    The file is moved aside first; what fails again is dead-lettered anew by the sink (when its
    dead-letter file is ``path``, the file then holds exactly what is still undelivered).
    Returns how many notifications were replayed.
    """
    source = Path(path)
    if not source.exists():
        return 0
    aside = source.with_name(source.name + ".replaying")
    source.replace(aside)
    notifications = DeadLetterFile(aside).read()
    for notification in notifications:
        sink.add(notification)
    sink.flush()
    aside.unlink()
    return len(notifications)
