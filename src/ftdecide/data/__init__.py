"""Training and eval data: reading every supported format, validation, tokens."""
