"""Command-line entry point (placeholder until the CLI lands)."""


def main() -> None:
    raise SystemExit("riskmon CLI not built yet")
