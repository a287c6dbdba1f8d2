"""The world's Pages edge over real TLS, fetched by httpx the way the validator fetches a policy:
the certificate for the SNI name checked against the local CA, the site chosen by Host, the
deployment's `_headers` honoured, and each per-host misbehaviour seen as a client sees it."""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mtasts_local.cloudflare.state import (
    Asset,
    CloudflareState,
    CustomDomain,
    Deployment,
    DnsRecord,
    PagesProject,
    new_id,
)
from mtasts_local.https_server import (
    HUGE_BODY_SIZE,
    HttpsBehaviour,
    HttpsServerError,
    LocalHttpsServer,
)
from mtasts_local.pki import LocalPki

DOMAIN = "selfhosted.example"
HOST = f"mta-sts.{DOMAIN}"
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\r\nmode: testing\r\nmx: mx1.selfhosted.example\r\nmax_age: 86400\r\n"
HEADERS_FILE = b"""\
/.well-known/mta-sts.txt
  Content-Type: text/plain; charset=utf-8
  Cache-Control: no-store
"""
SLOW_INTERVAL = 0.01

# OpenSSL X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code carries them.
CERT_HAS_EXPIRED = 10
HOSTNAME_MISMATCH = 62
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki()


@pytest.fixture(scope="module")
def state() -> CloudflareState:
    return CloudflareState("10ca1f00d10ca1f00d10ca1f00d10ca1", "token")


@pytest.fixture(scope="module")
def server(state: CloudflareState, pki: LocalPki) -> Iterator[LocalHttpsServer]:
    with LocalHttpsServer(state, pki, slow_interval=SLOW_INTERVAL) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(state: CloudflareState, server: LocalHttpsServer) -> None:
    state.reset()
    server.clear_behaviours()


@pytest.fixture(scope="module")
def client(pki: LocalPki) -> Iterator[httpx.Client]:
    with httpx.Client(verify=pki.client_context(), timeout=5.0) as http:
        yield http


# --- building sites straight into the state ------------------------------------------------------


def publish(
    state: CloudflareState,
    files: dict[str, tuple[bytes, str]],
    headers_file: bytes | None = HEADERS_FILE,
    domain: str = DOMAIN,
    activate: bool = True,
) -> PagesProject:
    """A Pages project for `mta-sts.<domain>` with one production deployment of `files`
    (path -> (content, content type)); `activate` adds the proxied CNAME that makes the
    custom domain active."""
    name = f"mta-sts-{domain.replace('.', '-')}"
    project = PagesProject(new_id(), name, state.account_id)
    state.projects[name] = project
    deploy(state, project, files, headers_file)
    host = f"mta-sts.{domain}"
    project.domains[host] = CustomDomain(new_id(), host, name)
    if activate:
        activate_domain(state, host, project)
    return project


def deploy(
    state: CloudflareState,
    project: PagesProject,
    files: dict[str, tuple[bytes, str]],
    headers_file: bytes | None = HEADERS_FILE,
    branch: str = "main",
) -> None:
    manifest = {}
    for path, (content, content_type) in files.items():
        digest = hashlib.sha256(content).hexdigest()[:32]
        state.assets[digest] = Asset(content, content_type)
        manifest[path] = digest
    environment = "production" if branch == project.production_branch else "preview"
    deployment = Deployment(new_id(), project.name, manifest, headers_file, branch, environment)
    project.deployments.append(deployment)


def activate_domain(state: CloudflareState, host: str, project: PagesProject) -> None:
    zone = state.zone_for(host) or state.add_zone(host.split(".", 1)[1])
    record = DnsRecord(new_id(), zone.id, zone.name, "CNAME", host, project.subdomain, proxied=True)
    state.put_record(record)


def policy_site(
    state: CloudflareState,
    headers_file: bytes | None = HEADERS_FILE,
    domain: str = DOMAIN,
    activate: bool = True,
) -> PagesProject:
    """A site serving POLICY, uploaded as a generic application/octet-stream file."""
    files = {POLICY_PATH: (POLICY, "application/octet-stream")}
    return publish(state, files, headers_file, domain, activate)


def fetch(
    client: httpx.Client,
    server: LocalHttpsServer,
    host: str = HOST,
    path: str = POLICY_PATH,
    method: str = "GET",
) -> httpx.Response:
    """A request to the edge for `host`, as if DNS had sent the client there: SNI and Host
    both name `host`, and the certificate is checked against that name."""
    return client.request(
        method,
        f"https://127.0.0.1:{server.port}{path}",
        headers={"Host": host},
        extensions={"sni_hostname": host},
    )


def verification_error(error: BaseException) -> ssl.SSLCertVerificationError:
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    assert cause is not None, f"no certificate verification error behind {error!r}"
    return cause


# --- serving sites -------------------------------------------------------------------------------


def test_the_policy_is_served_with_the_headers_files_content_type_and_cache_control(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    response = fetch(client, server)

    assert response.status_code == 200
    assert response.content == POLICY
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-length"] == str(len(POLICY))
    assert response.headers["access-control-allow-origin"] == "*"


def test_without_a_headers_file_the_uploaded_content_type_and_pages_caching_apply(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state, headers_file=None)

    response = fetch(client, server)

    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"


def test_head_gives_the_headers_and_length_without_a_body(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    response = fetch(client, server, method="HEAD")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(POLICY))
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_an_unknown_path_is_404_and_headers_rules_still_apply(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state, headers_file=b"/*\n  X-Robots-Tag: noindex\n")

    response = fetch(client, server, path="/.well-known/other.txt")

    assert response.status_code == 404
    assert response.headers["x-robots-tag"] == "noindex"


def test_an_unknown_path_gets_the_single_page_app_fallback_when_there_is_an_index(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    # Pages' trap for policy hosts: a missing policy answers 200 text/html, not 404.
    publish(state, {"/index.html": (b"<html>hello</html>", "text/html")}, headers_file=None)

    response = fetch(client, server)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html"
    assert response.content == b"<html>hello</html>"


def test_an_unknown_host_is_404(client: httpx.Client, server: LocalHttpsServer):
    assert fetch(client, server, host="mta-sts.nobody.example").status_code == 404


def test_a_site_appears_only_once_its_custom_domain_is_active(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    project = policy_site(state, activate=False)

    pending = fetch(client, server)
    on_pages_dev = fetch(client, server, host=project.subdomain)
    activate_domain(state, HOST, project)
    active = fetch(client, server)

    assert pending.status_code == 404
    assert on_pages_dev.status_code == 200
    assert active.status_code == 200 and active.content == POLICY


def test_the_latest_production_deployment_is_served_and_previews_are_not(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    project = policy_site(state)
    enforce = POLICY.replace(b"testing", b"enforce")

    deploy(state, project, {POLICY_PATH: (b"preview only", "text/plain")}, branch="preview")
    after_preview = fetch(client, server)
    deploy(state, project, {POLICY_PATH: (enforce, "text/plain")})
    after_production = fetch(client, server)

    assert after_preview.content == POLICY
    assert after_production.content == enforce


def test_other_methods_are_not_allowed(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    assert fetch(client, server, method="POST").status_code == 405


def test_a_host_header_that_differs_from_the_sni_name_is_misdirected(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    response = client.get(
        f"https://127.0.0.1:{server.port}{POLICY_PATH}",
        headers={"Host": HOST},
        extensions={"sni_hostname": "mta-sts.other.example"},
    )

    assert response.status_code == 421


def test_a_client_without_sni_gets_the_edge_certificate_and_the_host_headers_site(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    # No sni_hostname: Python sends no SNI to an IP address and checks the certificate
    # against 127.0.0.1, which the edge's default certificate names.
    response = client.get(f"https://127.0.0.1:{server.port}{POLICY_PATH}", headers={"Host": HOST})

    assert response.status_code == 200 and response.content == POLICY


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_resolve_and_the_ca_bundle_fetches_the_policy(
    server: LocalHttpsServer, state: CloudflareState, pki: LocalPki, tmp_path: Path
):
    policy_site(state)
    bundle = pki.write_ca_bundle(tmp_path / "ca.pem")

    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail",
            "--cacert", str(bundle),
            "--resolve", f"{HOST}:{server.port}:127.0.0.1",
            f"https://{HOST}:{server.port}{POLICY_PATH}",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == POLICY


# --- certificates --------------------------------------------------------------------------------


def test_the_certificate_for_a_good_host_verifies(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)

    assert fetch(client, server).status_code == 200


@pytest.mark.parametrize(
    ("behaviour", "verify_code", "reason"),
    [
        (HttpsBehaviour.EXPIRED_CERT, CERT_HAS_EXPIRED, "certificate has expired"),
        (HttpsBehaviour.WRONG_NAME_CERT, HOSTNAME_MISMATCH, "Hostname mismatch"),
        (
            HttpsBehaviour.UNTRUSTED_CERT,
            UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            "unable to get local issuer certificate",
        ),
    ],
)
def test_a_broken_certificate_fails_verification_for_the_right_reason(
    client: httpx.Client,
    server: LocalHttpsServer,
    state: CloudflareState,
    behaviour: HttpsBehaviour,
    verify_code: int,
    reason: str,
):
    policy_site(state)
    server.set_behaviour(HOST, behaviour)

    with pytest.raises(httpx.ConnectError) as raised:
        fetch(client, server)

    error = verification_error(raised.value)
    assert error.verify_code == verify_code
    assert reason in error.verify_message


def test_a_client_that_skips_verification_still_gets_the_policy_behind_a_bad_certificate(
    server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.EXPIRED_CERT)

    with httpx.Client(verify=False) as careless:
        response = fetch(careless, server)

    assert response.status_code == 200 and response.content == POLICY


def test_a_broken_certificate_is_only_for_its_own_host(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    policy_site(state, domain="hosted.example")
    server.set_behaviour("mta-sts.hosted.example", HttpsBehaviour.UNTRUSTED_CERT)

    assert fetch(client, server).status_code == 200
    with pytest.raises(httpx.ConnectError):
        fetch(client, server, host="mta-sts.hosted.example")


# --- misbehaviour --------------------------------------------------------------------------------


def test_redirect_answers_301_to_another_url_which_the_client_does_not_follow(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.REDIRECT)

    default = fetch(client, server)
    server.set_behaviour(HOST, HttpsBehaviour.REDIRECT, redirect_to="https://elsewhere.example/p")
    chosen = fetch(client, server)

    assert default.status_code == 301
    assert default.headers["location"] == f"https://www.{HOST}{POLICY_PATH}"
    assert chosen.headers["location"] == "https://elsewhere.example/p"


def test_content_type_serves_the_policy_as_html(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.CONTENT_TYPE)

    response = fetch(client, server)

    assert response.status_code == 200 and response.content == POLICY
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [(HttpsBehaviour.NOT_FOUND, 404), (HttpsBehaviour.SERVER_ERROR, 500)],
)
def test_error_behaviours_answer_their_status_for_a_policy_that_exists(
    client: httpx.Client,
    server: LocalHttpsServer,
    state: CloudflareState,
    behaviour: HttpsBehaviour,
    status: int,
):
    policy_site(state)
    server.set_behaviour(HOST, behaviour)

    assert fetch(client, server).status_code == status


def test_huge_pads_the_policy_past_64_kib(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.HUGE)

    response = fetch(client, server)

    assert len(response.content) == HUGE_BODY_SIZE > 64 * 1024
    assert response.content.startswith(POLICY)
    assert response.headers["content-length"] == str(HUGE_BODY_SIZE)


def test_slow_dribbles_the_body_in_small_pieces(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.SLOW)

    with client.stream(
        "GET",
        f"https://127.0.0.1:{server.port}{POLICY_PATH}",
        headers={"Host": HOST},
        extensions={"sni_hostname": HOST},
    ) as response:
        pieces = list(response.iter_raw())

    assert b"".join(pieces) == POLICY
    assert len(pieces) > 1
    assert max(len(piece) for piece in pieces) < len(POLICY)


def test_a_host_behaves_again_once_its_behaviour_is_cleared(
    client: httpx.Client, server: LocalHttpsServer, state: CloudflareState
):
    policy_site(state)
    server.set_behaviour(HOST, HttpsBehaviour.SERVER_ERROR)
    assert server.behaviour(HOST) is HttpsBehaviour.SERVER_ERROR

    server.set_behaviour(HOST, None)

    assert server.behaviour(HOST) is HttpsBehaviour.OK
    assert fetch(client, server).status_code == 200


def raw_exchange(server: LocalHttpsServer, pki: LocalPki, request: bytes) -> bytes:
    """`request` sent as it is over TLS (SNI and certificate for HOST); everything answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as plain:
        with pki.client_context().wrap_socket(plain, server_hostname=HOST) as tls:
            tls.sendall(request)
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    return answer


def test_a_request_that_is_not_http_gets_400(
    server: LocalHttpsServer, state: CloudflareState, pki: LocalPki
):
    policy_site(state)

    answer = raw_exchange(server, pki, b"HELLO THERE\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_method_pages_does_not_know_gets_501_and_the_edge_names_itself(
    server: LocalHttpsServer, state: CloudflareState, pki: LocalPki
):
    policy_site(state)

    answer = raw_exchange(
        server, pki, f"BREW {POLICY_PATH} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    )
    head = answer.split(b"\r\n\r\n")[0].lower().split(b"\r\n")

    assert head[0] == b"http/1.1 501 not implemented"
    assert b"server: cloudflare" in head and b"connection: close" in head
    assert any(line.startswith(b"date: ") for line in head)


def test_latency_is_a_round_trip_on_the_handshake_and_on_the_response(
    state: CloudflareState, pki: LocalPki
):
    policy_site(state)
    latency = 0.2
    with LocalHttpsServer(state, pki, latency=latency) as far:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", far.port), timeout=5) as raw:
            context = pki.client_context()
            with context.wrap_socket(raw, server_hostname=HOST) as tls:
                shaken = time.monotonic()
                tls.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                answer = b""
                while chunk := tls.recv(65536):
                    answer += chunk
                answered = time.monotonic()

    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(POLICY)
    assert round((shaken - started) / latency) == 1  # TLS 1.3: one flight from the server
    assert round((answered - shaken) / latency) == 1


# --- lifecycle -----------------------------------------------------------------------------------


def test_stop_ends_open_connections_and_leaves_no_thread(state: CloudflareState, pki: LocalPki):
    policy_site(state)
    before = set(threading.enumerate())
    # Waits far beyond the join below: stop() must end open connections itself.
    edge = LocalHttpsServer(state, pki, slow_interval=600.0, socket_timeout=600.0).start()
    edge.set_behaviour(HOST, HttpsBehaviour.SLOW)
    port = edge.port
    idle = socket.create_connection(("127.0.0.1", port), timeout=5.0)  # never says hello
    with httpx.Client(verify=pki.client_context(), timeout=5.0) as http:
        slow = http.send(
            http.build_request(
                "GET",
                f"https://127.0.0.1:{port}{POLICY_PATH}",
                headers={"Host": HOST},
                extensions={"sni_hostname": HOST},
            ),
            stream=True,
        )
        pieces = slow.iter_raw()
        first = next(pieces)  # a body transfer that would take minutes

        # A daemon thread: a stop() that hangs fails this test without hanging the run.
        stopper = threading.Thread(target=edge.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=60.0)  # a hang guard, not a speed target

        assert not stopper.is_alive(), "stop() waited for open connections to time out"
        assert set(threading.enumerate()) <= before
        assert idle.recv(1) == b""
        assert first == POLICY[: len(first)]
        with pytest.raises(httpx.RemoteProtocolError):
            list(pieces)  # the rest never comes: the connection ended mid-body
        slow.close()
    idle.close()
    with pytest.raises(HttpsServerError):
        _ = edge.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5.0)


def test_a_port_in_use_is_reported(state: CloudflareState, pki: LocalPki, server: LocalHttpsServer):
    with pytest.raises(HttpsServerError, match="cannot listen"):
        LocalHttpsServer(state, pki, port=server.port).start()
