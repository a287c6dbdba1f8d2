"""The local world's AWS: moto in server mode, resources created from `template.yaml`, and
Lambda invocations that run the real handlers from `functions/`.

- `moto_world`: start, reset and stop moto (Step Functions executes definitions).
- `template`: read a SAM template, transform it, and create its resources in moto.
- `lambda_runner`: make moto's Lambda run the real handler, in-process or as a subprocess.

This package's `__init__` stays import-light: `invoke_subprocess` runs in a fresh interpreter
for every invocation and must not pay for moto or the SAM translator.
"""

from typing import Final

# moto's default account; every ARN the world builds uses it.
ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "eu-west-1"
# Credentials moto accepts and real AWS never will: nothing local can reach a real account.
FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
