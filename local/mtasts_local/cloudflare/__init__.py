"""A stateful stand-in for the subset of the Cloudflare REST API the product uses."""

from mtasts_local.cloudflare.contract import OpenApiContract
from mtasts_local.cloudflare.faults import FaultKind, FaultRule
from mtasts_local.cloudflare.server import CloudflareStandIn
from mtasts_local.cloudflare.state import CloudflareState

__all__ = ["CloudflareStandIn", "CloudflareState", "FaultKind", "FaultRule", "OpenApiContract"]
