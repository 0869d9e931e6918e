"""The faust-streaming worker: Kafka in, the engine per keyed stage, alerts out.

Conventions
-----------
- The app is built by :func:`streams.worker.app.create_app`, never at import time.
- Each stage runs on its own re-partitioned topic (keyed by the stage's entity), with its state in a
  changelog-backed faust Table. Values are written back once per batch, never mutated in place.
- Alerts of a batch are acknowledged by the broker *before* the batch's state is written, so a
  crash can repeat an alert (same ``alert_id``) but never lose one: at-least-once (the whole
  argument: docs/architecture.md, "Delivery guarantee").
"""
