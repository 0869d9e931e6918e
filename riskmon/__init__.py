"""riskmon entry points: the CLI and settings. Configuration is read here, once."""
