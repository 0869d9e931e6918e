"""Creating the worker's topics before its agents start.

faust creates internal topics while its agents start, and its consumer may be assigned partitions
before a topic exists. Then it logs ``Ignoring missing topic`` and never consumes that topic until
the next rebalance: one fresh start in 31 lost every transaction-stage alert that way, with the
input offsets committed. :func:`ensure_topics` creates every topic an agent reads, and every
table's changelog, with the app's partition counts, and returns once each partition has a leader.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
    if not missing:
        return []
    request = {
        name: {"num_partitions": plan.partitions, "configs": dict(plan.configs)}
        for name, plan in missing.items()
    }
    result = admin.create_topics(
        request, timeout_ms=int(timeout * 1000), raise_errors=False, wait_for_metadata=True
    )
    for topic in result.get("topics", []):
        code = int(topic.get("error_code", 0))
        if code not in (0, ERROR_TOPIC_ALREADY_EXISTS):
            message = topic.get("error_message") or f"error code {code}"
            raise TopicSetupError(f"cannot create topic {topic.get('name')!r}: {message}")
    log.info("created topics before start: %s", ", ".join(sorted(missing)))
    return sorted(missing)
