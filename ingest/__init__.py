"""Ingest: MQTT readings into the time-series store, acknowledged only once durably written."""
