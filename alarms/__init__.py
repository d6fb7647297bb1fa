"""Alarms: rules evaluated over the platform's data, their lifecycle, and notifications (docs/alarms.md)."""
