"""Creating the worker's topics before its agents start.

faust creates internal topics while its agents start, and its consumer may be assigned partitions
before a topic exists. Then it logs ``Ignoring missing topic`` and never consumes that topic until
the next rebalance: one fresh start in 31 lost every transaction-stage alert that way, with the
input offsets committed. :func:`ensure_topics` creates every topic an agent reads, and every
table's changelog, with the app's partition counts, and returns once each partition has a leader.
A planned topic that exists with another partition count is refused: its keys would be read on
other partitions than the worker writes them to.

The input topics are not the worker's own: a producer or the platform team may have made them,
and a broker that creates topics on first use gives them its own default count (one partition).
:func:`prepare_inputs` creates them when they are missing and returns how many partitions they
have; the decoder's event-id table then gets that many (it must be co-partitioned with the
input, or the memory of an input partition lives on another worker, and redeliveries are
forwarded twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

ERROR_TOPIC_ALREADY_EXISTS = 36


class TopicSetupError(RuntimeError):
    """The broker refused to create a topic the worker needs."""


@dataclass(frozen=True)
class TopicPlan:
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)


def planned_topics(app: Any) -> dict[str, TopicPlan]:
    """Every topic the faust ``app``'s agents read, and its tables' changelogs."""
    default = int(app.conf.topic_partitions)
    plans: dict[str, TopicPlan] = {}
    for agent in app.agents.values():
        channel = agent.channel
        for name in getattr(channel, "topics", ()):
            plans[name] = TopicPlan(int(channel.partitions or default))
    for table in app.tables.values():
        changelog = table.changelog_topic
        for name in changelog.topics:
            plans[name] = TopicPlan(
                int(changelog.partitions or table.partitions or default),
                {"cleanup.policy": "compact"},
            )
    return plans


def ensure_topics(admin: Any, plans: Mapping[str, TopicPlan], timeout: float = 30.0) -> list[str]:
    """Create the missing topics of ``plans`` with a kafka-python admin client; returns them.

    Existing topics are left as they are.
    """
    existing = set(admin.list_topics())
    missing = {name: plan for name, plan in plans.items() if name not in existing}
    if missing:
        request = {
            name: {"num_partitions": plan.partitions, "configs": dict(plan.configs)}
            for name, plan in missing.items()
        }
        _create(admin, request, timeout)
        log.info("created topics before start: %s", ", ".join(sorted(missing)))
    # One look at every planned topic: those that were there, and those just made (another
    # worker of the group may have made some of them first, with other counts).
    _check_counts(admin, plans)
    return sorted(missing)


def prepare_inputs(
    admin: Any, topics: Sequence[str], partitions: int, timeout: float = 30.0
) -> int:
    """Create the missing input ``topics``; return their partition count.

    A missing topic gets the count of the input topic that exists, else ``partitions``.

    Raises :class:`TopicSetupError` when they have different counts: partition ``p`` of each is
    decoded together, with one memory of event ids, so they cannot be spread unevenly.
    """
    existing = set(admin.list_topics())
    missing = [name for name in topics if name not in existing]
    if missing:
        # One of them exists: the other is made like it, or the two could never be decoded
        # together.
        present = set(partition_counts(admin, [t for t in topics if t in existing]).values())
        count = present.pop() if len(present) == 1 else partitions
        request = {name: {"num_partitions": count, "configs": {}} for name in missing}
        _create(admin, request, timeout)
    counts = partition_counts(admin, topics)
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{name!r} has {n}" for name, n in counts.items())
        raise TopicSetupError(
            f"the input topics need the same number of partitions, but {shown}: recreate one of "
            "them with the other's count"
        )
    return next(iter(counts.values()))


def partition_counts(admin: Any, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each of ``topics`` has (kafka-python admin client)."""
    names = list(topics)
    if not names:
        return {}  # kafka-python describes every topic of the cluster for an empty list
    counts: dict[str, int] = {}
    for described in admin.describe_topics(names):
        code = int(described.get("error_code", 0))
        name = str(described.get("name", described.get("topic")))  # kafka-python 3 says "name"
        if code != 0:
            raise TopicSetupError(f"cannot describe topic {name!r}: error code {code}")
        counts[name] = len(described.get("partitions") or ())
    return {name: counts[name] for name in names if name in counts}


def _check_counts(admin: Any, plans: Mapping[str, TopicPlan]) -> None:
    if not plans:
        return
    for name, count in partition_counts(admin, plans).items():
        wanted = plans[name].partitions
        if count != wanted:
            raise TopicSetupError(
                f"topic {name!r} has {count} partitions, the worker needs {wanted}: run it with "
                "the count its topics were made with (RISKMON_TOPIC_PARTITIONS), or with a new "
                "RISKMON_WORKER_APP_ID (its state starts empty)"
            )


def _create(admin: Any, request: Mapping[str, Mapping[str, Any]], timeout: float) -> None:
    result = admin.create_topics(
        dict(request), timeout_ms=int(timeout * 1000), raise_errors=False, wait_for_metadata=True
    )
    for topic in result.get("topics", []):
        code = int(topic.get("error_code", 0))
        if code not in (0, ERROR_TOPIC_ALREADY_EXISTS):
            message = topic.get("error_message") or f"error code {code}"
            raise TopicSetupError(f"cannot create topic {topic.get('name')!r}: {message}")
