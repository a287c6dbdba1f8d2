"""MTA-STS autopilot core library: RFC 8461/8460 models, adapters and use cases."""

__version__ = "0.1.0"
