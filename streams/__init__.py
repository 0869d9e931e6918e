"""Adapters that feed the core: files, stdin and the simulator (replay) and Kafka (the worker).

Conventions: adapters are given their clients and sinks; they hold no module-level globals. The
core (`monitor`) never sees a file, a socket or the wall clock.
"""
