"""Alembic migrations of the alert store, shipped as package data and run on open."""
