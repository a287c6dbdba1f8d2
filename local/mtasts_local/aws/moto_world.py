"""moto in server mode on a loopback port, with Step Functions executing the definitions.

moto keeps its backends, its configuration and the port its Step Functions engine dials
(`MOTO_PORT`) process-wide, so one `MotoWorld` runs per process at a time. Its engine calls Lambda
at `localhost:$MOTO_PORT`, so the world listens on a loopback address.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any, Final, Self

import boto3
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.utils import TMP_THREADS

from mtasts_local.aws import ACCOUNT_ID, DEFAULT_REGION, FAKE_CREDENTIALS
from mtasts_local.aws.errors import MotoWorldError
from mtasts_local.aws.session import fake_session
from mtasts_local.service import Service

# Step Functions runs definitions instead of only recording them. Lambda keeps its Docker
# backend, whose `LambdaFunction.invoke` is the seam the Lambda runner patches (the docker-less
# backend answers invocations without ever calling it).
ENGINE_ON: Final = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": True},
}
# moto's own defaults, put back on stop for whatever else runs in this process.
ENGINE_OFF: Final = {"stepfunctions": {"execute_state_machine": False}}
STOPPED_ERROR: Final = "LocalWorld.Stopped"
_REQUEST_LOGGER: Final = "werkzeug"
_DRAIN_SECONDS: Final = 10.0
_MOTO_API_TIMEOUT: Final = 10.0

_running_lock = threading.Lock()
_running: MotoWorld | None = None


class MotoWorld(Service):
    """Start, reset and stop moto; hand out boto3 clients that talk to it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        log_requests: bool = False,
    ) -> None:
        self.host = host
        self.region = region
        self.log_requests = log_requests
        self.account_id = ACCOUNT_ID
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None
        self._previous_moto_port: str | None = None
        self._previous_log_level = logging.NOTSET
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise MotoWorldError("the moto world is not running; call start() first")
        return self._endpoint_url

    def start(self) -> Self:
        if self._server is not None:
            raise MotoWorldError(f"this moto world is already running at {self._endpoint_url}")
        _claim_process(self)
        self._previous_moto_port = os.environ.get("MOTO_PORT")
        self._previous_log_level = logging.getLogger(_REQUEST_LOGGER).level
        try:
            server = ThreadedMotoServer(ip_address=self.host, port=self._port, verbose=False)
            server.start()
            self._server = server
            if not self.log_requests:
                # The server logs each request at INFO through werkzeug: a line per AWS call.
                logging.getLogger(_REQUEST_LOGGER).setLevel(logging.WARNING)
            host, port = server.get_host_and_port()
            self._endpoint_url = f"http://{host}:{port}"
            os.environ["MOTO_PORT"] = str(port)
            self._session = fake_session(self.region)
            self._moto_api("config", ENGINE_ON)
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Forget every resource, execution and item, keeping the server and its settings."""
        left = self._stop_executions()
        if left:
            raise MotoWorldError(f"{left} Step Functions threads still running after stopping")
        self._moto_api("reset")

    def stop(self) -> None:
        """Stop running executions, then the server; safe to call twice."""
        if self._server is None:
            _release_process(self)
            return
        left = 0
        try:
            left = self._stop_executions()
            self._moto_api("config", ENGINE_OFF)
        finally:
            self._server.stop()
            self._server = None
            self._endpoint_url = None
            self._clients.clear()
            _restore_env("MOTO_PORT", self._previous_moto_port)
            logging.getLogger(_REQUEST_LOGGER).setLevel(self._previous_log_level)
            _release_process(self)
        if left:
            raise MotoWorldError(f"{left} Step Functions threads were still running at stop")

    def client(self, service_name: str) -> Any:
        """A boto3 client for `service_name` pointed at moto (clients are thread-safe)."""
        if self._session is None or self._server is None:
            raise MotoWorldError("the moto world is not running; call start() first")
        if service_name not in self._clients:
            self._clients[service_name] = self._session.client(
                service_name, endpoint_url=self.endpoint_url
            )
        return self._clients[service_name]

    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to reach this world's AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **FAKE_CREDENTIALS,
        }

    def _moto_api(self, path: str, body: Mapping[str, Any] | None = None) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/{path}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        # No proxy: the server is on loopback whatever HTTP_PROXY says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=_MOTO_API_TIMEOUT) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            raise MotoWorldError(f"moto-api/{path} failed: {error}") from error

    def _stop_executions(self) -> int:
        """Stop every running execution and wait for the engine's threads; how many are left."""
        sfn = self.client("stepfunctions")
        for execution_arn in _running_executions(sfn):
            sfn.stop_execution(
                executionArn=execution_arn,
                error=STOPPED_ERROR,
                cause="the local world was reset or stopped",
            )
        return _join_engine_threads(_DRAIN_SECONDS)


def _running_executions(sfn: Any) -> Iterator[str]:
    for machines in sfn.get_paginator("list_state_machines").paginate():
        for machine in machines["stateMachines"]:
            pages = sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )
            for page in pages:
                yield from (execution["executionArn"] for execution in page["executions"])


def _join_engine_threads(timeout: float) -> int:
    # moto's engine runs each execution (and each Task) in a daemon thread it lists in
    # TMP_THREADS; waiting for them is what leaves no thread behind.
    deadline = time.monotonic() + timeout
    for thread in list(TMP_THREADS):
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(1 for thread in list(TMP_THREADS) if thread.is_alive())


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


def _claim_process(world: MotoWorld) -> None:
    global _running
    with _running_lock:
        if _running is not None and _running is not world:
            raise MotoWorldError("another MotoWorld is running in this process; stop it first")
        _running = world


def _release_process(world: MotoWorld) -> None:
    global _running
    with _running_lock:
        if _running is world:
            _running = None
