"""The API for ticketing systems: models and use cases (pure), routers, problem documents,
idempotency and the AWS wiring."""
