"""Pages projects, their upload tokens and their custom domains in the Cloudflare stand-in.

A custom domain is `pending` until a proxied CNAME from it to `<project>.pages.dev` exists in
the account's DNS, then `active` (derived on every read by `CloudflareState`). Attaching a
domain does not create that record, as on Cloudflare.
"""

from __future__ import annotations

import re

from mtasts_local.cloudflare.handlers_assets import CODE_PAGES_BAD_REQUEST, UploadTokens
from mtasts_local.cloudflare.handlers_common import (
    ApiError,
    Call,
    JsonObject,
    PageRequest,
    Reply,
    Route,
    page_request,
    paginate,
    success,
    text_field,
    timestamp,
)
from mtasts_local.cloudflare.handlers_deployments import (
    BUILD_CONFIG,
    deployment_json,
    project_or_404,
)
from mtasts_local.cloudflare.handlers_zones import is_hostname
from mtasts_local.cloudflare.state import (
    CloudflareState,
    CustomDomain,
    PagesProject,
    canonical,
    new_id,
)

CODE_PROJECT_EXISTS = 8000002
CODE_DOMAIN_NOT_FOUND = 8000018
CODE_DOMAIN_EXISTS = 8000019

_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,57}$")
_FUNCTIONS_CONFIG: JsonObject = {
    "always_use_latest_compatibility_date": False,
    "build_image_major_version": 3,
    "compatibility_date": "2024-07-29",
    "compatibility_flags": [],
    "fail_open": True,
    "usage_model": "standard",
}


class PagesHandlers:
    def __init__(self, state: CloudflareState, tokens: UploadTokens) -> None:
        self.state = state
        self.tokens = tokens

    def routes(self) -> list[Route]:
        projects = "/accounts/<account_id>/pages/projects"
        project = f"{projects}/<project_name>"
        domains = f"{project}/domains"
        token = f"{project}/upload-token"
        return [
            Route("pages.projects.list", "GET", projects, self.list_projects),
            Route("pages.projects.create", "POST", projects, self.create_project),
            Route("pages.projects.get", "GET", project, self.get_project),
            Route("pages.projects.delete", "DELETE", project, self.delete_project),
            Route("pages.projects.upload_token", "GET", token, self.upload_token),
            Route("pages.domains.list", "GET", domains, self.list_domains),
            Route("pages.domains.create", "POST", domains, self.create_domain),
            Route("pages.domains.get", "GET", f"{domains}/<domain_name>", self.get_domain),
            Route("pages.domains.delete", "DELETE", f"{domains}/<domain_name>", self.delete_domain),
        ]

    # --- projects ------------------------------------------------------------------------------

    def list_projects(self, call: Call) -> Reply:
        page = page_request(call, default_size=10, max_size=100)
        with self.state.lock:
            projects = sorted(self.state.projects.values(), key=lambda p: p.name)
        chunk, info = paginate(projects, page)
        return success([self.project_json(p) for p in chunk], info)

    def create_project(self, call: Call) -> Reply:
        body = call.json_object()
        name = text_field(body, "name", CODE_PAGES_BAD_REQUEST)
        branch = text_field(body, "production_branch", CODE_PAGES_BAD_REQUEST)
        if not _PROJECT_NAME.match(name):
            raise ApiError(
                400,
                CODE_PAGES_BAD_REQUEST,
                "Project names are 1 to 58 lowercase letters, digits and dashes, "
                "and start with a letter or digit.",
            )
        with self.state.lock:
            if name in self.state.projects:
                raise ApiError(
                    400,
                    CODE_PROJECT_EXISTS,
                    "A project with this name already exists. Choose a different project name.",
                )
            project = PagesProject(
                id=new_id(), name=name, account_id=self.state.account_id, production_branch=branch
            )
            self.state.projects[name] = project
        return success(self.project_json(project))

    def get_project(self, call: Call) -> Reply:
        return success(self.project_json(project_or_404(self.state, call.arg("project_name"))))

    def delete_project(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        with self.state.lock:
            self.state.projects.pop(project.name, None)
        return success(None)

    def upload_token(self, call: Call) -> Reply:
        project_or_404(self.state, call.arg("project_name"))
        return success({"jwt": self.tokens.issue()})

    def project_json(self, project: PagesProject) -> JsonObject:
        with self.state.lock:
            latest = project.deployments[-1] if project.deployments else None
            canonical_deployment = self.state.latest_production(project)
            domains = sorted(project.domains)
        body: JsonObject = {
            "id": project.id,
            "name": project.name,
            "subdomain": project.subdomain,
            "domains": domains,
            "production_branch": project.production_branch,
            "created_on": timestamp(project.created_on),
            "framework": "",
            "framework_version": "",
            "preview_script_name": f"pages-worker--{project.id[:7]}-preview",
            "production_script_name": f"pages-worker--{project.id[:7]}-production",
            "uses_functions": False,
            "build_config": BUILD_CONFIG,
            "deployment_configs": {"preview": _FUNCTIONS_CONFIG, "production": _FUNCTIONS_CONFIG},
        }
        # The spec does not allow null here: leave the keys out until there is a deployment.
        if latest is not None:
            body["latest_deployment"] = deployment_json(project, latest)
        if canonical_deployment is not None:
            body["canonical_deployment"] = deployment_json(project, canonical_deployment)
        return body

    # --- custom domains ------------------------------------------------------------------------

    def list_domains(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        with self.state.lock:
            domains = sorted(project.domains.values(), key=lambda d: d.name)
        # One page with every domain: the SDK reads this list as a single page.
        chunk, info = paginate(domains, PageRequest(1, max(1, len(domains))))
        return success([self.domain_json(d) for d in chunk], info)

    def create_domain(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        name = canonical(text_field(call.json_object(), "name", CODE_PAGES_BAD_REQUEST))
        if not is_hostname(name) or "." not in name:
            raise ApiError(400, CODE_PAGES_BAD_REQUEST, f"{name} is not a valid domain name")
        with self.state.lock:
            if name in project.domains:
                raise ApiError(
                    400, CODE_DOMAIN_EXISTS, "This custom domain is already added to the project."
                )
            domain = CustomDomain(id=new_id(), name=name, project_name=project.name)
            project.domains[name] = domain
        return success(self.domain_json(domain))

    def get_domain(self, call: Call) -> Reply:
        _, domain = self._domain(call)
        return success(self.domain_json(domain))

    def delete_domain(self, call: Call) -> Reply:
        project, domain = self._domain(call)
        with self.state.lock:
            project.domains.pop(domain.name, None)
        return success(None)

    def domain_json(self, domain: CustomDomain) -> JsonObject:
        status = self.state.custom_domain_status(domain)
        zone = self.state.zone_for(domain.name)
        return {
            "id": domain.id,
            "domain_id": domain.id,
            "name": domain.name,
            "status": status,
            "certificate_authority": "google",
            "created_on": timestamp(domain.created_on),
            "zone_tag": zone.id if zone is not None else "",
            "validation_data": {"method": "http", "status": status},
            "verification_data": {"status": status},
        }

    def _domain(self, call: Call) -> tuple[PagesProject, CustomDomain]:
        project = project_or_404(self.state, call.arg("project_name"))
        with self.state.lock:
            domain = project.domains.get(canonical(call.arg("domain_name")))
        if domain is None:
            raise ApiError(
                404, CODE_DOMAIN_NOT_FOUND, "The custom domain was not found on this project."
            )
        return project, domain
