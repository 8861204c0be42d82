"""Intake: a released child's journey from release to reunification, as events."""
