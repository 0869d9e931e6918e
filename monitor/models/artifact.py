"""Offline-trained model artefacts: skops bytes with a version header and a sha256 checksum.

A model file is never unpickled: :func:`loads` uses :func:`skops.io.loads` and trusts only the
types an IsolationForest needs (listed in :data:`TRUSTED`); anything else is refused before
any object is built. The checksum travels in a sibling file (``model.skops.sha256``, in
``sha256sum`` format) and is checked first. The caller does the file I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

__all__ = ["ARTIFACT_FORMAT", "Artifact", "ArtifactError", "checksum_line", "dumps", "loads"]

ARTIFACT_FORMAT = "riskmon-models"
ARTIFACT_VERSION = 1
TRUSTED = ("sklearn.tree._tree.Tree",)


class ArtifactError(MonitorError):
    """A model artefact with a bad checksum, an unknown version or untrusted content."""


@dataclass(frozen=True)
class Artifact:
    """Forests per entity kind with the feature order they were trained on."""

    forests: Mapping[str, IsolationForest]
    features: Mapping[str, tuple[str, ...]]
    events: int
    version: int = ARTIFACT_VERSION


def dumps(artifact: Artifact) -> bytes:
    import skops.io as sio

    payload = {
        "format": ARTIFACT_FORMAT,
        "version": artifact.version,
        "events": artifact.events,
        "features": {k: list(v) for k, v in artifact.features.items()},
        "forests": dict(artifact.forests),
    }
    data: bytes = sio.dumps(payload)
    return data


def checksum_line(data: bytes, name: str) -> str:
    """``<sha256>  <name>`` as ``sha256sum`` writes it."""
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


def loads(data: bytes, checksum: str | None) -> Artifact:
    """Verify ``checksum`` (a ``sha256sum`` line or bare digest), then load safely."""
    import skops.io as sio

    digest = hashlib.sha256(data).hexdigest()
    if checksum is None or checksum.split()[0] != digest:
        raise ArtifactError("model artefact checksum does not match (or is missing)")
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED]
    if untrusted:
        raise ArtifactError(f"model artefact holds untrusted types: {', '.join(untrusted)}")
    payload: Any = sio.loads(data, trusted=list(TRUSTED))
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError("not a riskmon model artefact")
    if payload.get("version") != ARTIFACT_VERSION:
        raise ArtifactError(f"unknown model artefact version {payload.get('version')!r}")
    from sklearn.ensemble import IsolationForest

    forests = payload["forests"]
    if not all(isinstance(f, IsolationForest) for f in forests.values()):
        raise ArtifactError("model artefact forests are not IsolationForests")
    features: dict[str, tuple[str, ...]] = {
        k: tuple(str(n) for n in v) for k, v in payload["features"].items()
    }
    return Artifact(forests=forests, features=features, events=int(payload["events"]))


def fit_forest(rows: Sequence[Sequence[float]], seed: int = 0) -> IsolationForest:
    """An IsolationForest fitted on feature rows (seeded)."""
    import numpy as np
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, max_samples=min(256, len(rows)), random_state=seed)
    forest.fit(np.array(rows, dtype=np.float64))
    return forest
