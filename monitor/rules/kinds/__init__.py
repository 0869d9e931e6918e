"""The four rule kinds: condition, aggregate, sequence (absence) and schedule."""
