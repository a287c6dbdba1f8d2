"""Make moto's Lambda run the real handlers, by patching `LambdaFunction.invoke`.

Every invocation reaches that one method: boto3's `lambda.invoke`, and both ways a Step Functions
Task calls Lambda (`arn:aws:states:::lambda:invoke` and the function's ARN as Resource), because
moto's engine calls the Invoke API on moto itself (see moto's `lambda_eval_utils`), whose
`LambdaBackend.invoke` calls `LambdaFunction.invoke`. Without the patch moto would start Docker.

The handler runs with the function's environment as moto holds it, plus what the Lambda runtime
sets and the way to reach moto (`AWS_ENDPOINT_URL`, fake credentials, region):
- in-process (tests): the handler file is imported as a fresh module per function and called
  with the environment set for the call and restored after. `os.environ` is process-wide, so
  in-process invocations take turns.
- as a subprocess (`mtasts local up`): `python -m mtasts_local.aws.invoke_subprocess`, one
  interpreter per invocation, killed at the function's timeout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, Self

from moto.awslambda.models import LambdaFunction

from mtasts_local.aws import FAKE_CREDENTIALS
from mtasts_local.aws.errors import HandlerLoadError, LambdaRunnerError
from mtasts_local.aws.handlers import (
    UNHANDLED,
    FunctionCode,
    Handler,
    LambdaContext,
    Outcome,
    call_handler,
    load_handler,
)
from mtasts_local.aws.invoke_subprocess import FUNCTION_ERROR_EXIT


class InvokeMode(StrEnum):
    IN_PROCESS = "in-process"
    SUBPROCESS = "subprocess"


# Lambda gives a function's init phase up to 10 s on top of its timeout; a subprocess spends its
# interpreter start there.
INIT_SECONDS: Final = 10.0
# What a subprocess keeps from the world's own environment; the rest is the function's.
_INHERITED: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# A profile would send the handler's boto3 to a real account's credentials.
_PROFILE_VARIABLES: Final = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")

_environment_lock = threading.Lock()
_installed_lock = threading.Lock()
_installed: LambdaRunner | None = None


class LambdaRunner:
    """Runs the handler of a moto Lambda function from its local code."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        mode: InvokeMode = InvokeMode.IN_PROCESS,
        world_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.mode = mode
        # Where the rest of the local world is (Cloudflare stand-in, DNS, HTTPS edge, CA):
        # what a function in AWS finds on the internet, it finds here through these settings.
        self.world_environment = dict(world_environment or {})
        self._code: dict[str, FunctionCode] = {}
        self._handlers: dict[str, tuple[tuple[str, FunctionCode], Handler]] = {}
        self._original_invoke: Any = None

    def register(self, function_name: str, code: FunctionCode) -> None:
        """Where `function_name`'s code lives; a function registered again starts cold."""
        self._forget(function_name)
        self._code[function_name] = code

    def register_all(self, code_by_name: Mapping[str, FunctionCode]) -> None:
        for function_name, code in code_by_name.items():
            self.register(function_name, code)

    def install(self) -> Self:
        """Patch moto so invocations run here; one runner per process at a time."""
        global _installed
        runner = self

        def invoke(
            function: LambdaFunction, body: str, request_headers: Any, response_headers: Any
        ) -> bytes:
            return runner._invoke_from_moto(function, body, request_headers, response_headers)

        with _installed_lock:
            if _installed is not None:
                raise LambdaRunnerError("a LambdaRunner is already installed; uninstall it first")
            self._original_invoke = LambdaFunction.__dict__["invoke"]
            setattr(LambdaFunction, "invoke", invoke)  # noqa: B010 - mypy forbids assigning methods
            _installed = self
        return self

    def uninstall(self) -> None:
        """Put moto's own `invoke` back and drop the handler modules; safe to call twice."""
        global _installed
        with _installed_lock:
            if _installed is not self:
                return
            setattr(LambdaFunction, "invoke", self._original_invoke)  # noqa: B010
            _installed = None
        for function_name in list(self._handlers):
            self._forget(function_name)

    def __enter__(self) -> Self:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstall()

    def run(self, function: LambdaFunction, event: Any) -> Outcome:
        """Invoke `function` with `event` as Lambda would and return what Invoke returns."""
        code = self._code.get(function.function_name)
        if code is None:
            return Outcome.failure(
                "LocalWorld.CodeNotRegistered",
                f"{function.function_name} has no local code: deploy it from a template and "
                "register the stack's function_code() with the runner",
            )
        request_id = str(uuid.uuid4())
        if self.mode is InvokeMode.SUBPROCESS:
            return self._run_subprocess(function, code, event, request_id)
        return self._run_in_process(function, code, event, request_id)

    def environment(self, function: LambdaFunction) -> dict[str, str]:
        """The function's variables, then the runtime's (which win, as in Lambda), then moto."""
        return {
            **{name: str(value) for name, value in function.environment_vars.items()},
            **self.world_environment,
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "_HANDLER": function.handler or "",
            # What `sam local invoke` sets: Powertools' Tracer then stays off instead of
            # sending segments to an X-Ray daemon that is not there.
            "AWS_SAM_LOCAL": "true",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **FAKE_CREDENTIALS,
        }

    def _invoke_from_moto(
        self, function: LambdaFunction, body: str, request_headers: Any, response_headers: Any
    ) -> bytes:
        invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        outcome = self.run(function, json.loads(body) if body else {})
        if invocation_type == "Event":
            # Lambda would queue the event and answer 202 at once; running it before answering
            # keeps tests ordered and leaves no thread behind.
            return b""
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        response_headers["x-amz-executed-version"] = str(function.version)
        return outcome.payload

    def _run_in_process(
        self, function: LambdaFunction, code: FunctionCode, event: Any, request_id: str
    ) -> Outcome:
        if not _environment_lock.acquire(timeout=float(function.timeout)):
            return Outcome.failure(
                "LocalWorld.Busy",
                "another in-process invocation held the environment past this function's "
                "timeout; a handler that invokes a function synchronously needs SUBPROCESS mode",
            )
        try:
            with _environment(self.environment(function)), _search_path(code.search_path()):
                handler = self._handler(function, code)
                return call_handler(handler, event, _context(function, request_id))
        except HandlerLoadError as error:
            return Outcome.failure(error.error_type, str(error))
        finally:
            _environment_lock.release()

    def _handler(self, function: LambdaFunction, code: FunctionCode) -> Handler:
        # Cached like a warm Lambda: module-level set-up runs once per function.
        key = (function.handler or "", code)
        cached = self._handlers.get(function.function_name)
        if cached is not None and cached[0] == key:
            return cached[1]
        handler = load_handler(code, key[0], _module_name(function.function_name))
        self._handlers[function.function_name] = (key, handler)
        return handler

    def _forget(self, function_name: str) -> None:
        self._handlers.pop(function_name, None)
        sys.modules.pop(_module_name(function_name), None)

    def _run_subprocess(
        self, function: LambdaFunction, code: FunctionCode, event: Any, request_id: str
    ) -> Outcome:
        timeout = float(function.timeout)
        command = [
            sys.executable,
            "-m",
            "mtasts_local.aws.invoke_subprocess",
            f"--code-dir={code.code_dir}",
            f"--handler={function.handler}",
            f"--function-arn={function.function_arn}",
            f"--request-id={request_id}",
            f"--timeout={timeout}",
            *(f"--layer-dir={layer}" for layer in code.layer_dirs),
        ]
        inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        try:
            completed = subprocess.run(
                command,
                input=json.dumps(event).encode(),
                stdout=subprocess.PIPE,
                env={**inherited, **self.environment(function)},
                timeout=timeout + INIT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome.failure(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            )
        return _subprocess_outcome(completed, request_id)


def _subprocess_outcome(completed: subprocess.CompletedProcess[bytes], request_id: str) -> Outcome:
    if completed.returncode == 0:
        return Outcome(completed.stdout)
    if completed.returncode == FUNCTION_ERROR_EXIT:
        return Outcome(completed.stdout, UNHANDLED)
    return Outcome.failure(
        "Runtime.ExitError",
        f"RequestId: {request_id} Error: Runtime exited with error: "
        f"exit status {completed.returncode}",
    )


def _context(function: LambdaFunction, request_id: str) -> LambdaContext:
    return LambdaContext(
        function_name=function.function_name,
        function_version=str(function.version),
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size),
        aws_request_id=request_id,
        log_group_name=function.logs_group_name,
        log_stream_name=f"local/{request_id}",
        deadline=time.monotonic() + float(function.timeout),
    )


def _module_name(function_name: str) -> str:
    return "mtasts_local_lambda_" + re.sub(r"\W", "_", function_name)


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*values, *_PROFILE_VARIABLES)}
    for name in _PROFILE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _search_path(entries: list[str]) -> Iterator[None]:
    added = [entry for entry in entries if entry not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)
