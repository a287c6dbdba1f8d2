"""boto3 sessions for the local world: credentials only moto accepts, whatever the environment
holds, so nothing local can reach a real account."""

from __future__ import annotations

import boto3

from mtasts_local.aws import FAKE_CREDENTIALS


def fake_session(region: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=region,
    )
