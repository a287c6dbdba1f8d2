"""The whole local world in one object: PKI, the Cloudflare account and its API stand-in, DNS,
the HTTPS (Pages) edge, one SMTP server per MX host, moto with the template's resources and the
real handlers, and the drivers for the events moto never sends (SES, schedules, API Gateway).

    with LocalWorld(load_world(None)) as world:
        world.endpoints()                       # where everything listens
        world.ses.deliver(raw_mail, ["tlsrpt@reports.example"])
        world.schedules.fire("ValidateFunction")
        world.reset()                           # back to the seed, servers kept

Addresses: everything listens on `bind`, on free ports, except moto, which Step Functions'
engine dials at `localhost` (so it stays on 127.0.0.1). With `standard_ports` DNS is on 53, HTTPS
on 443 and each MX host on 25; as SMTP has no way to name the host before STARTTLS, each MX host
then needs an address of its own: the ones after `bind` (127.0.0.2 -> 127.0.0.3, 127.0.0.4, ...),
which the loopback network on Linux answers without set-up. DNS A records point each MX host at
its address; the Pages edge is `bind`.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import string
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self

from mtasts_local.aws.lambda_runner import InvokeMode, LambdaRunner
from mtasts_local.aws.moto_world import MotoWorld
from mtasts_local.aws.template import (
    REPO_TEMPLATE,
    DeployedStack,
    StackPlan,
    deploy,
    load_sam_template,
    read_template,
)
from mtasts_local.cloudflare.contract import OpenApiContract
from mtasts_local.cloudflare.server import CloudflareStandIn
from mtasts_local.cloudflare.state import CloudflareState, DnsRecord
from mtasts_local.config import World
from mtasts_local.dns_server import LocalDnsServer, StaticRecord
from mtasts_local.drivers.api_gateway import LocalApiGateway
from mtasts_local.drivers.api_routes import api_definition
from mtasts_local.drivers.schedule import ScheduleDriver, ScheduleTicker
from mtasts_local.drivers.ses_inbound import MailRoute, SesInbound
from mtasts_local.drivers.stack import StackView
from mtasts_local.endpoints import DEFAULT_STATE_DIR, Endpoints, HostPort
from mtasts_local.https_server import LocalHttpsServer
from mtasts_local.pki import LocalPki
from mtasts_local.service import Service
from mtasts_local.smtp_server import LocalMxServer, MailSink

CA_BUNDLE: Final = "ca.pem"
STANDARD_PORTS: Final = {"dns": 53, "https": 443, "smtp": 25}
_KEY_ALPHABET: Final = string.ascii_letters + string.digits


class LocalWorldError(Exception):
    """The world cannot start as configured, or was used while stopped."""


def new_api_key() -> str:
    # API Gateway's generated keys are 40 letters and digits.
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))


def mx_addresses(config: World, bind: str, standard_ports: bool) -> dict[str, str]:
    """MX host name -> the address its SMTP server listens on (see the module's docstring)."""
    names = [host.name for host in config.mx_hosts]
    if not standard_ports or len(names) == 1:
        return dict.fromkeys(names, bind)
    address = ipaddress.ip_address(bind)
    if not address.is_loopback or address.version != 4:
        raise LocalWorldError(
            f"--standard-ports gives each of the {len(names)} MX hosts an address of its own "
            f"after the bind address; {bind} is not an IPv4 loopback address"
        )
    return {name: str(address + 1 + index) for index, name in enumerate(names)}


# What the world can answer for a template parameter without a Default, by parameter name;
# only the ones the template declares are passed (explicit `template_parameters` win).
REPORT_ADDRESS: Final = "tlsrpt@reports.mtasts.test"
CLOUDFLARE_TOKEN_SECRET: Final = "CloudflareApiTokenSecret"  # the template's logical id


def known_parameters(config: World) -> dict[str, str]:
    return {"CloudflareAccountId": config.cloudflare.account_id, "ReportAddress": REPORT_ADDRESS}


def template_parameters(template: Path, config: World, given: dict[str, str]) -> dict[str, str]:
    declared = load_sam_template(template).get("Parameters", {})
    known = {k: v for k, v in known_parameters(config).items() if k in declared}
    return {**known, **given}


def _stable_id(*parts: str) -> str:
    # The same zone and record ids after every reset, so a client holding one keeps working.
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).hex


def seed_cloudflare(state: CloudflareState, config: World, addresses: dict[str, str]) -> None:
    """The account as the world file describes it: each zone, its MX records, and an A record
    for every MX host inside it (hosts in no zone are served by the DNS server itself)."""
    for zone_config in config.zones:
        zone = state.add_zone(zone_config.name, _stable_id(state.account_id, zone_config.name))
        records: list[tuple[str, str, str, int | None]] = [
            ("MX", zone.name, mx.host, mx.preference) for mx in zone_config.mx
        ]
        records += [("A", h.name, addresses[h.name], None) for h in config.hosts_in_zone(zone.name)]
        for kind, name, content, priority in records:
            state.put_record(
                DnsRecord(
                    id=_stable_id(zone.id, kind, name, content),
                    zone_id=zone.id,
                    zone_name=zone.name,
                    type=kind,
                    name=name,
                    content=content,
                    priority=priority,
                )
            )


@dataclass(slots=True)
class _Aws:
    """moto with the template deployed, and what drives it."""

    moto: MotoWorld
    plan: StackPlan
    stack: DeployedStack
    runner: LambdaRunner


class LocalWorld(Service):
    def __init__(
        self,
        config: World,
        *,
        bind: str = "127.0.0.1",
        standard_ports: bool = False,
        state_dir: Path = DEFAULT_STATE_DIR,
        invoke_mode: InvokeMode = InvokeMode.IN_PROCESS,
        template: Path = REPO_TEMPLATE,
        template_parameters: dict[str, str] | None = None,
        report_mail: MailRoute | None = None,
        schedule_interval: float | None = None,
        check_contract: bool = False,
        api_key: str | None = None,
        function_settings: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.bind = bind
        self.standard_ports = standard_ports
        self.state_dir = state_dir
        self.invoke_mode = invoke_mode
        self.template = template
        self.template_parameters = template_parameters or {}
        self.report_mail = report_mail  # for a template without an SES receipt rule
        self.schedule_interval = schedule_interval  # None: schedules fire only when asked
        self.check_contract = check_contract
        self.api_key = api_key or new_api_key()
        # Product settings for every function on top of the world's (the demo's clock, say).
        self.function_settings = function_settings or {}
        self.addresses = mx_addresses(config, bind, standard_ports)
        self.pki = LocalPki()
        self.sink = MailSink()
        self.cloudflare = CloudflareState(config.cloudflare.account_id, config.cloudflare.api_token)
        self._running: ExitStack | None = None
        self._parts: dict[str, Any] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._running is not None:
            raise LocalWorldError("the local world is already running")
        running = ExitStack()
        try:
            self._start_network(running)
            self._start_aws(running)
            self._start_drivers(running)
        except BaseException:
            running.close()
            self._parts.clear()
            raise
        self._running = running
        return self

    def stop(self) -> None:
        """Stop everything, newest first; safe to call twice."""
        running, self._running = self._running, None
        if running is not None:
            try:
                running.close()
            finally:
                self._parts.clear()

    def _port(self, service: str) -> int:
        return STANDARD_PORTS[service] if self.standard_ports else 0

    def _start_network(self, running: ExitStack) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._parts["ca_bundle"] = self.pki.write_ca_bundle(self.state_dir / CA_BUNDLE)
        seed_cloudflare(self.cloudflare, self.config, self.addresses)
        running.callback(self.cloudflare.reset)
        contract = OpenApiContract() if self.check_contract else None
        stand_in = CloudflareStandIn(self.cloudflare, self.bind, contract=contract)
        self._parts["stand_in"] = running.enter_context(stand_in)
        external = [
            StaticRecord(host.name, "A", self.addresses[host.name])
            for host in self.config.external_hosts()
        ]
        dns = LocalDnsServer(self.cloudflare, self.bind, external, self.bind, self._port("dns"))
        self._parts["dns"] = running.enter_context(dns)
        https = LocalHttpsServer(self.cloudflare, self.pki, self.bind, self._port("https"))
        self._parts["https"] = running.enter_context(https)
        self._parts["smtp"] = {
            host.name: running.enter_context(
                LocalMxServer(
                    host.name,
                    host.behaviour,
                    self.pki,
                    self.sink,
                    self.addresses[host.name],
                    self._port("smtp"),
                )
            )
            for host in self.config.mx_hosts
        }

    def _start_aws(self, running: ExitStack) -> None:
        moto = running.enter_context(MotoWorld())
        # moto keeps its backends process-wide: an earlier world's resources would still be there.
        moto.reset()
        parameters = template_parameters(self.template, self.config, self.template_parameters)
        plan = read_template(self.template, parameters=parameters, region=moto.region)
        stack = deploy(plan, moto.client)
        self._store_cloudflare_token(moto, stack)
        runner = running.enter_context(
            LambdaRunner(
                endpoint_url=moto.endpoint_url,
                mode=self.invoke_mode,
                world_environment={**self.function_environment(), **self.function_settings},
            )
        )
        runner.register_all(stack.function_code())
        self._parts["aws"] = _Aws(moto, plan, stack, runner)

    def function_environment(self) -> dict[str, str]:
        """The product's settings that point a function at this world instead of the
        internet: the Cloudflare API, the DNS server, the HTTPS edge and MX hosts, the CA."""
        return {
            "CLOUDFLARE_BASE_URL": self.stand_in.base_url,
            "DNS_NAMESERVER": f"{self.bind}:{self.dns.port}",
            "POLICY_CONNECT_TO": f"{self.bind}:{self.https.port}",
            "SMTP_CONNECT_TO": ",".join(
                f"{name}={self.addresses[name]}:{server.port}" for name, server in self.smtp.items()
            ),
            "CA_BUNDLE": str(self.ca_bundle),
        }

    def _store_cloudflare_token(self, moto: MotoWorld, stack: DeployedStack) -> None:
        """What an admin does after `sam deploy`: put the API token into the stack's secret."""
        if CLOUDFLARE_TOKEN_SECRET not in stack.resources:
            return
        moto.client("secretsmanager").put_secret_value(
            SecretId=stack.ref(CLOUDFLARE_TOKEN_SECRET), SecretString=self.cloudflare.api_token
        )

    def _start_drivers(self, running: ExitStack) -> None:
        aws: _Aws = self._parts["aws"]
        view = StackView(aws.stack)
        self._parts["ses"] = SesInbound(view, aws.moto.client, self.report_mail)
        self._parts["schedules"] = ScheduleDriver(view, aws.moto.client)
        gateway = LocalApiGateway(
            api_definition(view),
            self._invoke,
            api_key=self.api_key,
            account_id=aws.moto.account_id,
            host=self.bind,
        )
        self._parts["api"] = running.enter_context(gateway)
        if self.schedule_interval:
            ticker = ScheduleTicker(self._parts["schedules"], self.schedule_interval)
            self._parts["ticker"] = running.enter_context(ticker)

    def _invoke(self, function_arn: str, event: dict[str, Any]) -> tuple[str | None, bytes]:
        response = self.aws.client("lambda").invoke(
            FunctionName=function_arn, Payload=json.dumps(event).encode()
        )
        payload: bytes = response["Payload"].read()
        return response.get("FunctionError"), payload

    # --- between tests -------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seed without restarting a server: the Cloudflare account, its call
        counters, fault rules and contract tallies, HTTPS misbehaviours, the mail sink, and
        every AWS resource (moto forgets everything; the template is deployed again)."""
        self.stand_in.drain()  # a late write from the last test must not land in the next
        self.cloudflare.reset()
        seed_cloudflare(self.cloudflare, self.config, self.addresses)
        self.stand_in.reset()
        self.https.clear_behaviours()
        self.sink.clear()
        aws: _Aws = self._part("aws")
        aws.moto.reset()
        aws.stack = deploy(aws.plan, aws.moto.client)
        self._store_cloudflare_token(aws.moto, aws.stack)
        aws.runner.register_all(aws.stack.function_code())
        view = StackView(aws.stack)
        self._parts["ses"] = SesInbound(view, aws.moto.client, self.report_mail)
        self._parts["schedules"] = ScheduleDriver(view, aws.moto.client)

    # --- the parts -----------------------------------------------------------------------------

    def _part(self, name: str) -> Any:
        if name not in self._parts:
            raise LocalWorldError("the local world is not running; call start() first")
        return self._parts[name]

    @property
    def running(self) -> bool:
        return self._running is not None

    @property
    def stand_in(self) -> CloudflareStandIn:
        return self._part("stand_in")  # type: ignore[no-any-return]

    @property
    def dns(self) -> LocalDnsServer:
        return self._part("dns")  # type: ignore[no-any-return]

    @property
    def https(self) -> LocalHttpsServer:
        return self._part("https")  # type: ignore[no-any-return]

    @property
    def smtp(self) -> dict[str, LocalMxServer]:
        return self._part("smtp")  # type: ignore[no-any-return]

    @property
    def aws(self) -> MotoWorld:
        return self._part("aws").moto  # type: ignore[no-any-return]

    @property
    def stack(self) -> DeployedStack:
        return self._part("aws").stack  # type: ignore[no-any-return]

    @property
    def lambda_runner(self) -> LambdaRunner:
        return self._part("aws").runner  # type: ignore[no-any-return]

    @property
    def ses(self) -> SesInbound:
        return self._part("ses")  # type: ignore[no-any-return]

    @property
    def schedules(self) -> ScheduleDriver:
        return self._part("schedules")  # type: ignore[no-any-return]

    @property
    def api(self) -> LocalApiGateway:
        return self._part("api")  # type: ignore[no-any-return]

    @property
    def ca_bundle(self) -> Path:
        return self._part("ca_bundle")  # type: ignore[no-any-return]

    def endpoints(self) -> Endpoints:
        return Endpoints(
            aws_endpoint_url=self.aws.endpoint_url,
            cloudflare_base_url=self.stand_in.base_url,
            cloudflare_api_token=self.cloudflare.api_token,
            cloudflare_account_id=self.cloudflare.account_id,
            dns=HostPort(host=self.bind, port=self.dns.port),
            https=HostPort(host=self.bind, port=self.https.port),
            smtp={
                name: HostPort(host=self.addresses[name], port=server.port)
                for name, server in self.smtp.items()
            },
            ca_bundle=str(self.ca_bundle),
            api_url=self.api.url,
            api_key=self.api_key,
        )
