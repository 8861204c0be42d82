"""Published JSON Schemas, one file per event type and version."""
