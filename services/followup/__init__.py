"""Follow-up: watching a child's reintegration for years after return."""
