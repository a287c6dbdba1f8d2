"""Pages direct-upload deployments of the Cloudflare stand-in.

`POST .../deployments` takes a multipart form like wrangler's: `manifest` (JSON, path -> asset
hash), `branch`, and the `_headers` file part. A manifest that names a hash never uploaded is
refused. A new deployment's latest stage (`deploy`) is `active`; it turns `success` on the Nth
`GET .../deployments/<id>` (N = `polls_until_success`, default 1; 0 = at once). Only successful
production deployments are served by the HTTPS edge (`CloudflareState.site_for_host`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import timedelta

from mtasts_local.cloudflare.handlers_assets import CODE_PAGES_BAD_REQUEST
from mtasts_local.cloudflare.handlers_common import (
    ApiError,
    Call,
    JsonObject,
    Reply,
    Route,
    page_request,
    paginate,
    success,
    timestamp,
)
from mtasts_local.cloudflare.state import (
    CloudflareState,
    Deployment,
    PagesProject,
    new_id,
)

CODE_PROJECT_NOT_FOUND = 8000007
CODE_DEPLOYMENT_NOT_FOUND = 8000009

STAGE_NAMES = ("queued", "initialize", "clone_repo", "build", "deploy")

# The SDK's Deployment model requires `source` (a Git source), which Cloudflare leaves out for
# direct-upload projects; this inert one (deployments off, no repository) satisfies it.
_INERT_SOURCE: JsonObject = {
    "type": "github",
    "config": {
        "deployments_enabled": False,
        "owner": "",
        "owner_id": "",
        "path_excludes": [],
        "path_includes": [],
        "pr_comments_enabled": False,
        "preview_branch_excludes": [],
        "preview_branch_includes": [],
        "preview_deployment_setting": "none",
        "production_branch": "main",
        "production_deployments_enabled": False,
        "repo_id": "",
        "repo_name": "",
    },
}
BUILD_CONFIG: JsonObject = {
    "build_caching": False,
    "build_command": "",
    "destination_dir": "",
    "root_dir": "",
    "web_analytics_tag": None,
    "web_analytics_token": None,
}


def project_or_404(state: CloudflareState, name: str) -> PagesProject:
    with state.lock:
        project = state.projects.get(name)
    if project is None:
        raise ApiError(
            404,
            CODE_PROJECT_NOT_FOUND,
            "Project not found. The specified project name does not match any of your "
            "existing projects.",
        )
    return project


class DeploymentLifecycle:
    """Moves deployments from `active` to `success` as clients poll them."""

    def __init__(self, state: CloudflareState, polls_until_success: int = 1) -> None:
        if polls_until_success < 0:
            raise ValueError("polls_until_success cannot be negative")
        self.state = state
        self.polls_until_success = polls_until_success
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()

    def begin(self, project: PagesProject, deployment: Deployment) -> Deployment:
        status = "active" if self.polls_until_success else "success"
        deployment = replace(deployment, status=status)
        with self.state.lock:
            project.deployments.append(deployment)
        with self._lock:
            self._polls[deployment.id] = 0
        return deployment

    def poll(self, project: PagesProject, deployment_id: str) -> Deployment | None:
        with self._lock:
            polls = self._polls.get(deployment_id)
            if polls is not None:
                self._polls[deployment_id] = polls = polls + 1
        if polls is not None and polls >= self.polls_until_success:
            self._succeed(project, deployment_id)
        return _find(project, deployment_id, self.state)

    def finish_all(self) -> None:
        """Every deployment still in progress succeeds now (as if it had been polled)."""
        with self.state.lock:
            for project in self.state.projects.values():
                for deployment in project.deployments:
                    self._succeed(project, deployment.id)

    def reset(self) -> None:
        with self._lock:
            self._polls.clear()

    def _succeed(self, project: PagesProject, deployment_id: str) -> None:
        with self.state.lock:
            for index, deployment in enumerate(project.deployments):
                if deployment.id == deployment_id and deployment.status == "active":
                    project.deployments[index] = replace(deployment, status="success")


class DeploymentHandlers:
    def __init__(self, state: CloudflareState, lifecycle: DeploymentLifecycle) -> None:
        self.state = state
        self.lifecycle = lifecycle

    def routes(self) -> list[Route]:
        base = "/accounts/<account_id>/pages/projects/<project_name>/deployments"
        return [
            Route("pages.deployments.list", "GET", base, self.list_deployments),
            Route("pages.deployments.create", "POST", base, self.create_deployment),
            Route("pages.deployments.get", "GET", f"{base}/<deployment_id>", self.get_deployment),
        ]

    def list_deployments(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        page = page_request(call, default_size=25, max_size=100)
        env = call.query("env")
        with self.state.lock:
            newest_first = list(reversed(project.deployments))
        wanted = [d for d in newest_first if env is None or d.environment == env]
        chunk, info = paginate(wanted, page)
        return success([deployment_json(project, d) for d in chunk], info)

    def create_deployment(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        form = call.request.form
        manifest = _manifest(form.get("manifest"))
        self._check_uploaded(manifest)
        headers_part = call.request.files.get("_headers")
        branch = form.get("branch") or project.production_branch
        deployment = Deployment(
            id=new_id(),
            project_name=project.name,
            manifest=manifest,
            headers_file=headers_part.read() if headers_part is not None else None,
            branch=branch,
            environment="production" if branch == project.production_branch else "preview",
        )
        return success(deployment_json(project, self.lifecycle.begin(project, deployment)))

    def get_deployment(self, call: Call) -> Reply:
        project = project_or_404(self.state, call.arg("project_name"))
        deployment = self.lifecycle.poll(project, call.arg("deployment_id"))
        if deployment is None:
            raise ApiError(
                404,
                CODE_DEPLOYMENT_NOT_FOUND,
                "The deployment ID you have specified does not exist. "
                "Update the deployment ID and try again.",
            )
        return success(deployment_json(project, deployment))

    def _check_uploaded(self, manifest: dict[str, str]) -> None:
        with self.state.lock:
            missing = sorted({h for h in manifest.values() if h not in self.state.assets})
        if missing:
            raise ApiError(
                400,
                CODE_PAGES_BAD_REQUEST,
                f"The manifest references files that were never uploaded: {', '.join(missing)}",
            )


def _manifest(raw: str | None) -> dict[str, str]:
    if raw is None:
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, "A direct upload needs a manifest")
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ApiError(400, CODE_PAGES_BAD_REQUEST, "The manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or not all(
        isinstance(path, str) and path.startswith("/") and isinstance(digest, str) and digest
        for path, digest in manifest.items()
    ):
        raise ApiError(
            400, CODE_PAGES_BAD_REQUEST, "The manifest must map paths (/...) to file hashes"
        )
    return manifest


def _find(project: PagesProject, deployment_id: str, state: CloudflareState) -> Deployment | None:
    with state.lock:
        return next((d for d in project.deployments if d.id == deployment_id), None)


def deployment_json(project: PagesProject, deployment: Deployment) -> JsonObject:
    short_id = deployment.id[:8]
    stages = _stages(deployment)
    aliases = None
    if deployment.environment == "preview":
        aliases = [f"https://{deployment.branch}.{project.subdomain}"]
    return {
        "id": deployment.id,
        "short_id": short_id,
        "project_id": project.id,
        "project_name": project.name,
        "environment": deployment.environment,
        "url": f"https://{short_id}.{project.subdomain}",
        "aliases": aliases,
        "created_on": timestamp(deployment.created_on),
        "modified_on": timestamp(deployment.created_on),
        "latest_stage": stages[-1],
        "stages": stages,
        "deployment_trigger": {
            "type": "ad_hoc",
            "metadata": {
                "branch": deployment.branch,
                "commit_hash": "",
                "commit_message": "",
                "commit_dirty": False,
            },
        },
        "build_config": BUILD_CONFIG,
        "env_vars": {},
        "is_skipped": False,
        "uses_functions": False,
        "source": _INERT_SOURCE,
    }


def _stages(deployment: Deployment) -> list[JsonObject]:
    """Every stage before `deploy` has succeeded; `deploy` carries the deployment's status."""
    started = deployment.created_on
    stages: list[JsonObject] = []
    for step, name in enumerate(STAGE_NAMES):
        status = deployment.status if name == "deploy" else "success"
        begun = started + timedelta(milliseconds=step)
        stages.append(
            {
                "name": name,
                "status": status,
                "started_on": timestamp(begun),
                "ended_on": None if status == "active" else timestamp(begun),
            }
        )
    return stages
