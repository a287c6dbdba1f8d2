"""Cloudflare Pages' `_headers` file: parsed purely, then matched and applied to a response's
headers the way the Pages asset server does it.

    rules = parse_headers_file(b"/.well-known/*\\n  Content-Type: text/plain\\n")
    headers = rules.apply("mta-sts.example.com", "/.well-known/mta-sts.txt", defaults)

The format, as Cloudflare's own parser reads it (workers-sdk `parseHeaders`):
- Lines are trimmed; blank lines and lines starting with `#` are skipped; a line over 2,000
  characters is ignored. At most 100 rules; the rest of the file is ignored.
- A line that starts with `/` or `<scheme>://` opens a rule: a path, or an absolute
  `https://host/path` URL (no port). `*` is a splat (one per URL) and `:name` a placeholder,
  matching one path segment, or one host label in the host part. The query and fragment are
  dropped.
- `Name: value` lines under it attach headers (names are case-insensitive; a name repeated in one
  rule has its values joined with ", "); `! Name` detaches a header set before it. A rule with
  neither is dropped. Values may use `:splat` and `:name` to insert what the URL matched.
Lines that do not fit are collected as problems (Cloudflare prints them as warnings and deploys
anyway), never raised.

Applying: every matching rule, in file order, first detaches its `!` names, then sets its
headers; a header set by an earlier `_headers` rule is appended to (", "), any other header
(the asset's Content-Type, the default Cache-Control) is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

MAX_RULES = 100
MAX_LINE_LENGTH = 2000
DETACH_PREFIX = "! "

# Cloudflare's own test: a line is a URL when it starts with "/" or with "<non-space>://".
_URL_LINE = re.compile(r"^(\S+://|/)")
_ABSOLUTE_URL = re.compile(r"^https://+(?P<host>[^/]+)/?(?P<path>.*)$")
_HOST_WITH_PORT = re.compile(r".*:\d+$")
_URL_TOKEN = re.compile(r"(\*|:[A-Za-z]\w*)", re.ASCII)
# The characters a WHATWG URL parser leaves alone in a path; the rest it percent-encodes.
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>?`{}')


@dataclass(frozen=True, slots=True)
class HeadersProblem:
    """A line Cloudflare would ignore, and why."""

    line_number: int
    line: str
    message: str


@dataclass(frozen=True, slots=True)
class HeaderRule:
    url: str  # normalised: "/path" or "https://host/path"
    set_headers: tuple[tuple[str, str], ...]  # (lowercase name, value), in file order
    detach: tuple[str, ...]  # lowercase names
    line_number: int
    pattern: re.Pattern[str] = field(repr=False, compare=False)

    @property
    def absolute(self) -> bool:
        return self.url.startswith("https://")

    def match(self, host: str, path: str) -> dict[str, str] | None:
        """What the splat and placeholders captured, or None when the rule does not apply.
        `path` is the request's path as sent (percent-encoded), `host` its lowercase name."""
        target = f"https://{host}{path}" if self.absolute else path
        found = self.pattern.fullmatch(target)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, slots=True)
class HeadersFile:
    rules: tuple[HeaderRule, ...]
    problems: tuple[HeadersProblem, ...] = ()

    def apply(self, host: str, path: str, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` (what Pages would send without a `_headers` file) with every matching
        rule applied; names come back lowercase."""
        result = {name.lower(): value for name, value in headers.items()}
        set_by_file: set[str] = set()
        for rule in self.rules:
            captures = rule.match(host, path)
            if captures is None:
                continue
            for name in rule.detach:
                result.pop(name, None)
            for name, template in rule.set_headers:
                value = _substitute(template, captures)
                if name in set_by_file and name in result:
                    result[name] = f"{result[name]}, {value}"
                else:
                    result[name] = value
                    set_by_file.add(name)
        return result


def parse_headers_file(content: str | bytes | None) -> HeadersFile:
    """Parse a `_headers` file (None or empty: no rules)."""
    if content is None:
        return HeadersFile(rules=())
    if isinstance(content, bytes):
        # wrangler reads the file as UTF-8 text, replacing what does not decode.
        content = content.decode("utf-8-sig", errors="replace")
    parser = _Parser()
    for number, line in enumerate(content.split("\n"), start=1):
        if not parser.feed(number, line.strip()):
            break
    return parser.finish()


def _substitute(template: str, captures: Mapping[str, str]) -> str:
    for name, value in captures.items():
        template = template.replace(f":{name}", value)
    return template


@dataclass(slots=True)
class _OpenRule:
    url: str
    line: str
    line_number: int
    pattern: re.Pattern[str]
    headers: dict[str, str] = field(default_factory=dict)
    detach: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self) -> None:
        self.rules: list[HeaderRule] = []
        self.problems: list[HeadersProblem] = []
        self.open: _OpenRule | None = None

    def feed(self, number: int, line: str) -> bool:
        """Take one trimmed line; False once the file has too many rules to read on."""
        if not line or line.startswith("#"):
            return True
        if len(line) > MAX_LINE_LENGTH:
            self._problem(number, line[:80], f"longer than {MAX_LINE_LENGTH} characters")
        elif _URL_LINE.match(line):
            return self._open_rule(number, line)
        elif ":" not in line:
            self._detach(number, line)
        else:
            self._header(number, line)
        return True

    def finish(self) -> HeadersFile:
        self._close_rule()
        return HeadersFile(tuple(self.rules), tuple(self.problems))

    def _open_rule(self, number: int, line: str) -> bool:
        self._close_rule()
        if len(self.rules) >= MAX_RULES:
            self._problem(number, line, f"more than {MAX_RULES} rules: the rest is ignored")
            return False
        try:
            url = normalise_url(line)
            pattern = compile_url_pattern(url)
        except ValueError as error:
            self._problem(number, line, str(error))
            return True
        self.open = _OpenRule(url, line, number, pattern)
        return True

    def _close_rule(self) -> None:
        rule, self.open = self.open, None
        if rule is None:
            return
        if not rule.headers and not rule.detach:
            self._problem(rule.line_number, rule.line, "no headers specified")
            return
        self.rules.append(
            HeaderRule(
                url=rule.url,
                set_headers=tuple(rule.headers.items()),
                detach=tuple(rule.detach),
                line_number=rule.line_number,
                pattern=rule.pattern,
            )
        )

    def _detach(self, number: int, line: str) -> None:
        if self.open is None:
            self._problem(number, line, "expected a path beginning with a forward slash")
        elif line.startswith(DETACH_PREFIX) and line[len(DETACH_PREFIX) :].strip():
            self.open.detach.append(line[len(DETACH_PREFIX) :].strip().lower())
        else:
            self._problem(number, line, "expected a colon-separated header pair (name: value)")

    def _header(self, number: int, line: str) -> None:
        raw_name, _, raw_value = line.partition(":")
        name, value = raw_name.strip().lower(), raw_value.strip()
        if " " in name:
            self._problem(number, line, "header name cannot include spaces")
        elif not name:
            self._problem(number, line, "no header name specified")
        elif not value:
            self._problem(number, line, "no header value specified")
        elif self.open is None:
            self._problem(number, line, f"path should come before header ({name}: {value})")
        else:
            previous = self.open.headers.get(name)
            self.open.headers[name] = f"{previous}, {value}" if previous else value

    def _problem(self, number: int, line: str, message: str) -> None:
        self.problems.append(HeadersProblem(number, line, message))


def normalise_url(text: str) -> str:
    """A rule's URL as Cloudflare keeps it: `/path` or `https://host/path`, without query or
    fragment, the path percent-encoded. Raises ValueError for anything else."""
    absolute = _ABSOLUTE_URL.match(text)
    if absolute is not None:
        host = absolute["host"]
        if _HOST_WITH_PORT.match(host):
            raise ValueError(f"specifying ports is not supported: {text}")
        return f"https://{host}{_pathname(absolute['path'])}"
    if text.startswith("/"):
        return _pathname(text)
    raise ValueError("URLs should either be relative (begin with a forward slash) or use HTTPS")


def _pathname(path: str) -> str:
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return quote(path, safe=_PATH_SAFE)


def compile_url_pattern(url: str) -> re.Pattern[str]:
    """The regular expression a normalised rule URL stands for. A placeholder in the host
    matches one label (no `.` or `/`), in the path one segment (no `/`); the splat anything."""
    host_end = url.find("/", len("https://")) if url.startswith("https://") else 0
    parts: list[str] = []
    names: set[str] = set()
    position = 0
    for piece in _URL_TOKEN.split(url):
        if _URL_TOKEN.fullmatch(piece):
            name = "splat" if piece == "*" else piece[1:]
            if name in names:
                raise ValueError(f"{piece!r} appears more than once (one splat per URL)")
            names.add(name)
            parts.append(_capture(piece, in_host=position < host_end))
        else:
            parts.append(re.escape(piece))
        position += len(piece)
    return re.compile("".join(parts))


def _capture(token: str, in_host: bool) -> str:
    if token == "*":
        return "(?P<splat>.*)"
    name = token[1:]
    return f"(?P<{name}>[^/.]+)" if in_host else f"(?P<{name}>[^/]+)"
