"""The /v1 API: models shared by the daemon, the client and the CLI."""

API_PREFIX = "/v1"
