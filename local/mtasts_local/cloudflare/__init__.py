"""A stateful stand-in for the subset of the Cloudflare REST API the product uses."""
