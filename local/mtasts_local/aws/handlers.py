"""Load a Lambda handler from its file and call it the way the Python Lambda runtime does.

Shared by both ways the world runs a function: in the test process and in a subprocess
(`invoke_subprocess`). Kept free of moto and boto3 so the subprocess starts quickly.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mtasts_local.aws.errors import HandlerLoadError

Handler = Callable[[Any, Any], Any]
UNHANDLED = "Unhandled"  # the X-Amz-Function-Error value for an error the handler did not catch


@dataclass(frozen=True, slots=True)
class FunctionCode:
    """Where a function's code lives locally: its CodeUri and its layers' ContentUri."""

    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()

    def search_path(self) -> list[str]:
        # Lambda puts /var/task (the code) before /opt/python (the layers) on sys.path.
        return [str(self.code_dir), *(str(d) for d in self.layer_dirs)]


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The attributes of the runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic() at which Lambda would stop the function

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the Invoke API returns: the payload, and `Unhandled` when the handler raised."""

    payload: bytes
    function_error: str | None = None

    @classmethod
    def failure(cls, error_type: str, message: str, stack: list[str] | None = None) -> Outcome:
        body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
        return cls(json.dumps(body).encode(), UNHANDLED)


def split_handler(handler: str) -> tuple[str, str]:
    """`app.lambda_handler` -> (`app`, `lambda_handler`); `pkg/mod.fn` -> (`pkg/mod`, `fn`)."""
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise HandlerLoadError("Runtime.MalformedHandlerName", f"Bad handler '{handler}'")
    return module, function


def load_handler(code: FunctionCode, handler: str, module_name: str) -> Handler:
    """Import the handler's file as a fresh module named `module_name` and return its function.

    Importing by file path, under a name per function, keeps two functions whose files are both
    `app.py` from sharing one cached module. The caller puts `code.search_path()` on sys.path
    so the handler's own imports (siblings, layers) resolve as they do in Lambda.
    """
    module_path, function_name = split_handler(handler)
    module = _import_file(code.code_dir / f"{module_path.replace('.', '/')}.py", module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        raise HandlerLoadError("Runtime.HandlerNotFound", message)
    return function  # type: ignore[no-any-return]


def _import_file(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise HandlerLoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{path.stem}': no file {path}"
        )
    module = importlib.util.module_from_spec(spec)
    # Registered before running it, as the import system does: dataclasses and pydantic look
    # their defining module up in sys.modules.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise HandlerLoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{path.stem}': {error}"
        ) from error
    return module


def call_handler(handler: Handler, event: Any, context: LambdaContext) -> Outcome:
    """Call the handler; an exception becomes Lambda's error payload, not a raise."""
    try:
        result = handler(event, context)
    except Exception as error:  # Lambda reports every uncaught error the same way
        stack = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
        return Outcome.failure(type(error).__name__, str(error), stack)
    try:
        return Outcome(json.dumps(result, default=_marshal_decimal).encode())
    except (TypeError, ValueError) as error:
        return Outcome.failure("Runtime.MarshalError", f"Unable to marshal response: {error}")


def _marshal_decimal(value: object) -> float:
    # The Python runtime's marshaller turns Decimal (what DynamoDB reads return) into numbers.
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def invoke(
    code: FunctionCode, handler: str, module_name: str, event: Any, context: LambdaContext
) -> Outcome:
    """Load and call in one step, reporting a handler that cannot be loaded as Lambda does."""
    try:
        function = load_handler(code, handler, module_name)
    except HandlerLoadError as error:
        return Outcome.failure(error.error_type, str(error))
    return call_handler(function, event, context)
