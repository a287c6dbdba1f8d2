"""The local world: AWS (moto), a Cloudflare API stand-in, DNS, HTTPS and SMTP on one machine.

Nothing in the product imports this package; tests and `mtasts local` do.
"""
