"""The durable queue between the gateway and the forwarders: minimised payloads only,
deleted once delivered."""
