"""The events moto never sends, sent by the local world itself in the shapes AWS sends them.

- `ses_inbound`: a mail arriving at an SES receipt rule: stored in S3, then the Lambda action.
- `schedule`: an EventBridge schedule firing (on demand, or by a background ticker).
- `api_gateway`: a local HTTP server turning requests into REST API proxy events.

Each reads what it drives from the deployed template (`stack.py`), never from a second list.
"""
