"""Edge gateway: polls Modbus meters and publishes readings over MQTT, spooling through outages."""
