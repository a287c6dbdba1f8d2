"""The `mtasts` command. Exit status: 0 valid, 1 read but invalid, 2 usage error or unreadable
(70 only for a bug in mtasts itself).

It never prints a traceback: library errors become one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from mtasts import __version__
from mtasts.checked import Checked
from mtasts.errors import MtaStsError
from mtasts.findings import Finding
from mtasts.policy import Mode, build_policy, check_policy, render_policy
from mtasts.report import TlsReport
from mtasts.report_extract import DEFAULT_DECOMPRESSED_LIMIT, load_reports
from mtasts.sts_record import check_sts_record
from mtasts.tlsrpt_record import check_tlsrpt_record

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in mtasts, not in the input
Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2."""


# --- output helpers -----------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _dump(model: BaseModel | None) -> Any:
    return None if model is None else model.model_dump(mode="json")


def _print_findings(findings: Sequence[Finding]) -> None:
    for finding in findings:
        print(f"{finding.severity.value:7} {finding.code.value}: {finding.message}")


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _report_checked(result: Checked[Any], key: str, as_json: bool, summary: str) -> int:
    if as_json:
        _print_json(
            {
                "valid": result.valid,
                key: _dump(result.value),
                "findings": [f.model_dump(mode="json") for f in result.findings],
            }
        )
    else:
        print(summary if result.valid else "invalid")
        _print_findings(result.findings)
    return EXIT_OK if result.valid else EXIT_INVALID


# --- commands -----------------------------------------------------------------------------------


def _policy_check(args: argparse.Namespace) -> int:
    result = check_policy(_read(args.file))
    summary = ""
    if result.value is not None:
        policy = result.value
        summary = f"valid: mode {policy.mode.value}, max_age {policy.max_age}, mx {list(policy.mx)}"
    return _report_checked(result, "policy", args.json, summary)


def _policy_render(args: argparse.Namespace) -> int:
    policy = build_policy(args.mode, args.mx or [], args.max_age)
    sys.stdout.buffer.write(render_policy(policy).encode("utf-8"))
    return EXIT_OK


def _policy_match(args: argparse.Namespace) -> int:
    policy = check_policy(_read(args.file)).value
    if policy is None:
        print(f"{args.file}: not a valid policy; run 'mtasts policy check'", file=sys.stderr)
        return EXIT_INVALID
    matches = {host: policy.match(host) for host in args.hosts}
    if args.json:
        _print_json(matches)
    else:
        for host, pattern in matches.items():
            print(f"{host}: {'matches ' + pattern if pattern else 'NOT covered'}")
    return EXIT_OK if all(matches.values()) else EXIT_INVALID


def _record_check(args: argparse.Namespace) -> int:
    if args.type == "sts":
        sts = check_sts_record(args.value)
        summary = f"valid: id {sts.value.id}" if sts.value else ""
        return _report_checked(sts, "record", args.json, summary)
    tlsrpt = check_tlsrpt_record(args.value)
    summary = f"valid: rua {tlsrpt.value.rua}" if tlsrpt.value else ""
    return _report_checked(tlsrpt, "record", args.json, summary)


def _describe(report: TlsReport) -> str:
    lines = [
        f"report {report.report_id} from {report.organization_name}",
        f"  {report.date_range.start_datetime.isoformat()} .. "
        f"{report.date_range.end_datetime.isoformat()}",
    ]
    for result in report.policies:
        summary, policy = result.summary, result.policy
        lines.append(
            f"  {policy.policy_type} {policy.policy_domain}: "
            f"{summary.total_successful_session_count} ok, "
            f"{summary.total_failure_session_count} failed"
        )
        lines += [
            f"    {d.failed_session_count} x {d.result_type} at {d.receiving_mx_hostname or '?'}"
            for d in result.failure_details
        ]
    return "\n".join(lines)


def _report_parse(args: argparse.Namespace) -> int:
    limit = args.max_decompressed_mib * 1024 * 1024
    reports = load_reports(_read(args.file), Path(args.file).name, limit).reports
    if args.json:
        dumped = [report.model_dump(mode="json") for report in reports]
        _print_json(dumped[0] if len(dumped) == 1 else dumped)
    else:
        print("\n".join(_describe(report) for report in reports))
    return EXIT_OK


# --- argument parsing ---------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    return int(text)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _policy_commands(commands: Any) -> None:
    policy = commands.add_parser("policy", help="the policy file (RFC 8461 §3.2)")
    sub = policy.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="check a policy file as a strict sender would")
    check.add_argument("file", metavar="FILE", help="policy file, or - for stdin")
    _add_json(check)
    check.set_defaults(handler=_policy_check)
    render = sub.add_parser("render", help="print a policy file (CRLF lines) to stdout")
    render.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    render.add_argument("--mx", action="append", metavar="PATTERN", help="repeat for each mx")
    render.add_argument("--max-age", required=True, type=_non_negative_int, metavar="SECONDS")
    render.set_defaults(handler=_policy_render)
    match = sub.add_parser(
        "match",
        help="which mx pattern covers each host (RFC 8461 §4.1)",
        description="Exit status 0 when every host is covered, 1 when one is not.",
    )
    match.add_argument("file", metavar="FILE", help="policy file, or - for stdin")
    match.add_argument("hosts", nargs="+", metavar="HOST")
    _add_json(match)
    match.set_defaults(handler=_policy_match)


def _record_commands(commands: Any) -> None:
    record = commands.add_parser("record", help="the _mta-sts and _smtp._tls TXT records")
    sub = record.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="check one TXT record's text")
    check.add_argument("--type", required=True, choices=["sts", "tlsrpt"])
    check.add_argument("value", metavar="VALUE", help="the record text, e.g. 'v=STSv1; id=1'")
    _add_json(check)
    check.set_defaults(handler=_record_check)


def _report_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="TLS-RPT reports (RFC 8460)")
    sub = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    parse = sub.add_parser(
        "parse",
        help="parse a report from .eml, .json, .json.gz, .gz or .zip",
        description="Prints the normalised report; a JSON array when the input holds several.",
    )
    parse.add_argument("file", metavar="FILE", help="report file, or - for stdin")
    parse.add_argument(
        "--max-decompressed-mib",
        type=_positive_int,
        default=DEFAULT_DECOMPRESSED_LIMIT // (1024 * 1024),
        metavar="MIB",
        help="refuse input that decompresses to more than this (default: %(default)s)",
    )
    _add_json(parse)
    parse.set_defaults(handler=_report_parse)


def _check(args: argparse.Namespace) -> int:
    from mtasts.check_command import CheckOptions, run_check  # the validator's imports are heavy

    options = CheckOptions(
        domains=args.domains,
        as_json=args.json,
        nameserver=args.nameserver,
        ca_bundle=args.ca_bundle,
        local=args.local,
        state_dir=args.local_dir,
    )
    with _usage_errors():
        return run_check(options)


def _deploy(args: argparse.Namespace) -> int:
    from mtasts.deploy_command import DeployOptions, run_deploy  # pulls in the Cloudflare SDK

    options = DeployOptions(
        domain=args.domain,
        mode=Mode(args.mode),
        mx=args.mx,
        max_age=args.max_age,
        rua=args.rua,
        local=args.local,
        local_dir=args.local_dir,
        state_dir=args.state_dir,
    )
    with _usage_errors():
        return run_deploy(options)


@contextmanager
def _usage_errors() -> Iterator[None]:
    """What the person typed is wrong (not the domain): exit status 2."""
    from mtasts.check_command import CheckUsageError
    from mtasts.deploy_command import DeployUsageError
    from mtasts.domain_names import DomainNameError
    from mtasts.errors import SettingsError
    from mtasts.local_endpoints import LocalWorldNotRunningError

    usage = (CheckUsageError, DeployUsageError, DomainNameError, LocalWorldNotRunningError)
    try:
        yield
    except (*usage, SettingsError) as error:
        raise UsageError(str(error)) from error


def _operation_commands(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="validate domains as a strict sending MTA sees them (DNS, HTTPS, SMTP)"
    )
    check.add_argument("domains", nargs="+", metavar="DOMAIN")
    _add_json(check)
    check.add_argument("--nameserver", metavar="IP[:PORT]", help="ask this DNS server")
    check.add_argument("--ca-bundle", metavar="PEM", help="trust these CAs (HTTPS and SMTP)")
    _add_local(check)
    check.set_defaults(handler=_check)

    deploy = commands.add_parser(
        "deploy", help="deploy a policy to Cloudflare Pages and announce its id (RFC 8461 §8.1)"
    )
    deploy.add_argument("domain", metavar="DOMAIN")
    deploy.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    deploy.add_argument("--mx", action="append", metavar="PATTERN", help="repeat; default: derived")
    deploy.add_argument("--max-age", type=_non_negative_int, metavar="SECONDS")
    deploy.add_argument("--rua", action="append", metavar="URI", help="repeat; default REPORT_RUA")
    deploy.add_argument("--state-dir", type=Path, help="where the last published ids are kept")
    _add_local(deploy)
    deploy.set_defaults(handler=_deploy)


def _add_local(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true", help="use the running local world (mtasts local up)"
    )
    parser.add_argument(
        "--local-dir", type=Path, default=Path(".mtasts-local"), help=argparse.SUPPRESS
    )


def _local(args: argparse.Namespace) -> int:
    from mtasts_local.cli import main as local_main  # here only: the core never needs it

    return local_main(args.argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtasts",
        description="MTA-STS autopilot: check and render MTA-STS policies, records and reports.",
        epilog="Exit status: 0 valid, 1 read but invalid, 2 usage error or unreadable input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _policy_commands(commands)
    _record_commands(commands)
    _report_commands(commands)
    _operation_commands(commands)
    # Every argument after `local`, options included, is mtasts_local.cli's to parse.
    local = commands.add_parser("local", help="run the local world", prefix_chars="\0")
    local.add_argument("argv", nargs=argparse.REMAINDER)
    local.set_defaults(handler=_local)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"mtasts: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MtaStsError as exc:
        print(f"mtasts: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, ever
        print(
            f"mtasts: internal error ({type(exc).__name__}: {exc}); please report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
