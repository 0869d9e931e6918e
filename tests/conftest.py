"""Shared pytest configuration.

Fixture modules for real servers live beside this file and are registered here, one line each.
"""

pytest_plugins: list[str] = ["fixtures_services", "fixtures_kafka"]
