"""Run one Lambda invocation in this process, the way the runtime would, for `LambdaRunner`.

    python -m mtasts_local.aws.invoke_subprocess --code-dir functions/api --handler app.handler

The event is read from stdin; the payload the Invoke API would return is written to stdout and
nothing else is: whatever the handler prints goes to stderr. The exit status says how it went:
0 the handler returned, FUNCTION_ERROR_EXIT it raised (stdout holds Lambda's error payload),
anything else the runner itself failed. The environment is the function's, set by the caller.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from mtasts_local.aws.handlers import FunctionCode, LambdaContext, Outcome, invoke

FUNCTION_ERROR_EXIT: Final = 3


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mtasts_local.aws.invoke_subprocess")
    parser.add_argument("--code-dir", type=Path, required=True)
    parser.add_argument("--handler", required=True, help="module.function, as in the template")
    parser.add_argument("--layer-dir", type=Path, action="append", default=[])
    parser.add_argument("--function-arn", required=True)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds, for the context")
    return parser.parse_args(argv)


def _context(args: argparse.Namespace) -> LambdaContext:
    # The runtime builds the context from its environment and the invocation's own details.
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", args.function_arn.rpartition(":")[2])
    return LambdaContext(
        function_name=name,
        function_version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        invoked_function_arn=args.function_arn,
        memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        aws_request_id=args.request_id,
        log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}"),
        log_stream_name=f"local/{args.request_id}",
        deadline=time.monotonic() + args.timeout,
    )


def _run(args: argparse.Namespace, raw_event: bytes) -> Outcome:
    code = FunctionCode(args.code_dir.resolve(), tuple(d.resolve() for d in args.layer_dir))
    sys.path[:0] = code.search_path()
    event = json.loads(raw_event) if raw_event.strip() else {}
    return invoke(code, args.handler, "lambda_function_handler", event, _context(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    raw_event = sys.stdin.buffer.read()
    # Keep the real stdout for the payload alone; everything else written to fd 1 (print,
    # Powertools' logger, C extensions) lands on stderr instead.
    sys.stdout.flush()
    payload_fd = os.dup(1)
    os.dup2(2, 1)
    outcome = _run(args, raw_event)
    sys.stdout.flush()
    with os.fdopen(payload_fd, "wb") as payload_out:
        payload_out.write(outcome.payload)
    return 0 if outcome.function_error is None else FUNCTION_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
