"""riskmon."""
