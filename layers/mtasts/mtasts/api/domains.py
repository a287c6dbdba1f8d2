"""/domains: onboard, list, status, change, validate, promote, demote, remove, reports, history.
Each route parses (Powertools validates against the models), calls one use case, answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from mtasts.api import models
from mtasts.api.context import domain_service, request_id
from mtasts.api.openapi_docs import responses
from mtasts.api.service import MAX_PAGE
from mtasts.domain_config import Lifecycle

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools
DomainPath = Annotated[str, Path(description="The domain (Unicode or A-labels)", max_length=300)]
TAGS = ["domains"]


def _accepted(answer: models.Accepted) -> Response[models.Accepted]:
    return Response(
        status_code=202,
        content_type="application/json",
        body=answer,
        headers={"Location": answer.status_url},
    )


@router.post(
    "/domains",
    summary="Onboard a domain (starts its promotion workflow)",
    responses=responses(202, models.Accepted, "Onboarding started", 409),
    tags=TAGS,
)
def onboard(request: Annotated[models.OnboardRequest, Body()]) -> Response[models.Accepted]:
    return _accepted(domain_service(router).onboard(request, request_id(router)))


@router.get(
    "/domains",
    summary="List managed domains (paged; filter by state and mode)",
    responses=responses(200, models.DomainPage, "A page of domains"),
    tags=TAGS,
)
def list_domains(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    state: Annotated[Lifecycle | None, Query()] = None,
    mode: Annotated[Literal["testing", "enforce", "none"] | None, Query()] = None,
) -> models.DomainPage:
    return domain_service(router).list(limit, cursor, state, mode)


@router.get(
    "/domains/<domain>",
    summary="A domain's configuration, mode, id, last validation and window progress",
    responses=responses(200, models.DomainStatus, "The domain's status"),
    tags=TAGS,
)
def status(domain: DomainPath) -> models.DomainStatus:
    return domain_service(router).status(domain)


@router.patch(
    "/domains/<domain>",
    summary="Change mx, max_age, window settings or mode (restarts the workflow)",
    responses=responses(202, models.Accepted, "Change accepted", 409),
    tags=TAGS,
)
def change(
    domain: DomainPath, request: Annotated[models.ChangeRequest, Body()]
) -> Response[models.Accepted]:
    return _accepted(domain_service(router).change(domain, request, request_id(router)))


@router.post(
    "/domains/<domain>/validate",
    summary="Validate the domain now, as a strict sender would",
    responses=responses(200, models.Validated, "The validation and its findings"),
    tags=TAGS,
)
def validate(domain: DomainPath) -> models.Validated:
    return domain_service(router).validate(domain)


@router.post(
    "/domains/<domain>/promote",
    summary="Approve the promotion, or force it now with a reason",
    responses=responses(202, models.Accepted, "Approved or promoted", 409),
    tags=TAGS,
)
def promote(
    domain: DomainPath, request: Annotated[models.PromoteRequest, Body()]
) -> Response[models.Accepted]:
    return _accepted(domain_service(router).promote(domain, request, request_id(router)))


@router.post(
    "/domains/<domain>/demote",
    summary="Return the domain to testing (a new window starts)",
    responses=responses(202, models.Accepted, "Demotion started", 409),
    tags=TAGS,
)
def demote(
    domain: DomainPath, request: Annotated[models.DemoteRequest, Body()]
) -> Response[models.Accepted]:
    return _accepted(domain_service(router).demote(domain, request, request_id(router)))


@router.delete(
    "/domains/<domain>",
    summary="Start removing the domain (RFC 8461 §8.3: mode none first)",
    responses=responses(202, models.Accepted, "Removal started", 409),
    tags=TAGS,
)
def remove(domain: DomainPath) -> Response[models.Accepted]:
    return _accepted(domain_service(router).remove(domain, request_id(router)))


@router.get(
    "/domains/<domain>/reports",
    summary="Daily TLS-RPT counts for the domain's STS policy",
    responses=responses(200, models.ReportDaysView, "Daily counts"),
    tags=TAGS,
)
def reports(
    domain: DomainPath,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> models.ReportDaysView:
    return domain_service(router).report_days(domain, first, last)


@router.get(
    "/domains/<domain>/history",
    summary="The domain's audit trail, newest first",
    responses=responses(200, models.History, "Audit entries"),
    tags=TAGS,
)
def history(
    domain: DomainPath, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50
) -> models.History:
    return domain_service(router).history(domain, limit)
