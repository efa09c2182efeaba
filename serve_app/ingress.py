"""The HTTP ingress (CPU-only): decode once, run the cascade, answer with trace and cost.

Routes: POST /v1/classify, GET /v1/cascade, GET /v1/stats, GET /healthz and the admin
PUT /v1/cascade/policy; the Open Inference Protocol's /v2 routes come from serve_app.oip.
Each declares its response model and error statuses, so
/openapi.json and /docs show the real wire format. Every /v1 error body is ErrorResponse
`{"error": {"code", "message"}}`, built by the one exception handler of its error type:
routes raise, they never build error bodies. A 5xx only when the server fails (503 +
Retry-After when no tier can answer, 504 when the request's deadline expires and
`on_deadline` is `error`). Reading and decoding the body is serve_app.body's job.
Everything the hot path needs (runner, handles, callers) is built once in __init__; exit
thresholds are the replica's Serve `user_config`, applied by `reconfigure` without a restart.
No `from __future__ import annotations` here: FastAPI must see real annotation objects.
"""

import asyncio
import dataclasses
import logging
import math
import time

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.exceptions import TaskCancelledError
from ray.serve.exceptions import RayServeException
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.admin import AdminAuthError, admin_dependency
from serve_app.admission import Overloaded
from serve_app.body import ClassifyReader, describe_validation, parse_json, read_body
from serve_app.decode import InputError
from serve_app.edge_protocol import (
    EDGE_VOTES_HEADER,
    START_TIER_HEADER,
    CascadeDescription,
    attach_edge_traces,
    describe,
    parse_edge_votes,
    parse_start_tier,
)
from serve_app.oip import build_oip_router, is_oip_path, oip_error
from serve_app.replica_watch import door_stats
from serve_app.runner import ImageOutcome
from serve_app.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    ErrorBody,
    ErrorResponse,
    HealthResponse,
    PolicyUpdate,
    Prediction,
    StatsResponse,
    error_responses,
)

logger = logging.getLogger("ray.serve")

ADMIN_PATH = "/v1/cascade/policy"
ADMIN_BODY_LIMIT = 64 * 1024
BINARY = {"schema": {"type": "string", "format": "binary"}}
# The classify handler reads the raw body itself (size limit first), so FastAPI cannot
# infer its request body: it is documented here instead.
CLASSIFY_BODY = {
    "requestBody": {
        "required": True,
        "description": "One JPEG or PNG image as the raw body, or several as base64 in JSON "
        "(the formats accepted follow ingress.allowed_formats).",
        "content": {
            "image/jpeg": BINARY,
            "image/png": BINARY,
            "application/json": {"schema": ClassifyRequest.model_json_schema()},
        },
    }
}
POLICY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyUpdate"}}},
    }
}


class IngressApp(FastAPI):
    """FastAPI whose schema lists the admin route only where an admin token is configured.

    That is known per replica, after the routes were declared and (under Serve) after
    FastAPI froze each route's `include_in_schema` into its included-router view, so the
    admin path is taken out of the built schema, with the components only it used.
    """

    def openapi(self) -> dict:
        if self.openapi_schema is None:
            schema = super().openapi()
            if getattr(_serving_ingress(), "admin_digest", None) is None:
                _drop_path(schema, ADMIN_PATH)
        return self.openapi_schema


def _drop_path(schema: dict, path: str) -> None:
    """Remove `path` from an OpenAPI `schema`, and the schemas and security schemes that
    no remaining operation refers to."""
    schema["paths"].pop(path, None)
    components = schema.get("components", {})
    schemas = components.get("schemas", {})
    used: set[str] = set()
    todo: list = [schema["paths"]]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            name = str(node.get("$ref", "")).rpartition("#/components/schemas/")[2]
            if name and name not in used:
                used.add(name)
                todo.append(schemas.get(name))
            todo.extend(node.values())
    for name in set(schemas) - used:
        del schemas[name]
    operations = [op for item in schema["paths"].values() for op in item.values()]
    secured = {name for op in operations for need in op.get("security", []) for name in need}
    schemes = components.get("securitySchemes", {})
    for name in set(schemes) - secured:
        del schemes[name]
    if "securitySchemes" in components and not schemes:
        del components["securitySchemes"]


def policy_sync_for(ingress):
    """The PolicySync of an ingress replica, keyed by its Serve application's name."""
    from serve_app.policy_store import PolicySync

    return PolicySync(_app_name(ingress), ingress._apply_snapshot)


def replica_watch_for(ingress):
    """The ReplicaWatch that sizes this ingress replica's image door by the first tier's
    running replicas (serve_app.replica_watch); watches nothing when turned off."""
    from serve_app.replica_watch import ReplicaWatch, watched_deployments

    follows = ingress.config.ingress.door_follows_replicas
    watched = watched_deployments(ingress.config) if follows else {}

    def follow(share: float) -> None:
        before = ingress.admission.limit
        ingress.admission.scale_to(share)
        logger.info("image door %d -> %d (first tier running share %.2f)", before,
                    ingress.admission.limit, share)

    return ReplicaWatch(_app_name(ingress), watched, follow)


def _app_name(ingress) -> str:
    try:
        return serve.get_replica_context().app_name
    except RayServeException:
        return ingress.config.name


def _replica_id() -> str | None:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except (RayServeException, AttributeError):
        return None


def _serving_ingress():
    """This replica's CascadeIngress, or None outside a Serve replica. Serve's replica
    context holds it: that is how Serve itself hands `self` to the routes."""
    try:
        return serve.get_replica_context().servable_object
    except RayServeException:
        return None


async def _admin_digest() -> str | None:
    return getattr(_serving_ingress(), "admin_digest", None)


require_admin = admin_dependency(_admin_digest)
fastapi_app = IngressApp(title="coe-serve", description="Cascades of ensembles on Ray Serve")
fastapi_app.include_router(build_oip_router(_serving_ingress))  # KServe v2 / Triton clients


class CascadeError(Exception):
    """The cascade gave no answer: a 5xx, the server's problem rather than the client's."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class CascadeUnavailable(CascadeError):
    """No tier could answer an image (503, with Retry-After)."""

    status = 503
    code = "cascade_unavailable"


class DeadlineExceeded(CascadeError):
    """The request's deadline expired and `on_deadline` is `error`, or nothing answered."""

    status = 504
    code = "deadline_exceeded"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(0, math.ceil(seconds)))}


@fastapi_app.exception_handler(InputError)
async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message)


@fastapi_app.exception_handler(AdminAuthError)
async def _admin_error(_request: Request, exc: AdminAuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, headers)


@fastapi_app.exception_handler(CascadeError)
async def _cascade_error(_request: Request, exc: CascadeError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@fastapi_app.exception_handler(Overloaded)
async def _overloaded(_request: Request, exc: Overloaded) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, retry_after(exc.retry_after_s))


@fastapi_app.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, "invalid_request", describe_validation(exc.errors()))


@fastapi_app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if is_oip_path(request):  # the Open Inference Protocol's error form
        return oip_error(exc.status_code, str(exc.detail))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


@serve.deployment
@serve.ingress(fastapi_app)
class CascadeIngress:
    """Owns the runner, the live stats and the metrics of one cascade application."""

    def __init__(
        self,
        config: dict,
        member_handles: dict,
        catalog_path: str | None = None,
        admin_token_sha256: str | None = None,
        local_members: list[dict] | None = None,
    ):
        from cascade.config import parse_cascade
        from cost_model.catalog import load_catalog
        from cost_model.device_time import DeviceClock
        from serve_app.admission import ImageBudget
        from serve_app.callers import handle_caller, local_caller
        from serve_app.edge_stats import TrafficMetrics, TrafficSplit
        from serve_app.member import MemberDeployment
        from serve_app.metrics import CascadeMetrics
        from serve_app.runner import CascadeRunner, build_tier_plans
        from serve_app.stats import StatsAggregator

        self.config = parse_cascade(config, check_models=False, catalog=catalog_path)
        self.catalog_path = catalog_path
        # colocate_first_tier: the first tier's members live in this process
        self.local_members = {
            m["name"]: MemberDeployment.func_or_class(
                m["spec"], m["tier"], m["member"], m["gpu_class"], m["max_batch_size"],
                m["batch_wait_timeout_s"], m["catalog"],
                fp16=m.get("fp16", False), channels_last=m.get("channels_last", False))
            for m in local_members or []
        }
        missing = [
            self.config.deployment_name(t, m)
            for t in self.config.tiers
            for m in t.members
            if self.config.deployment_name(t, m) not in member_handles
            and self.config.deployment_name(t, m) not in self.local_members
        ]
        if missing:
            raise ValueError(f"no deployment handle for members: {', '.join(missing)}")
        catalog = load_catalog(catalog_path)
        retries = self.config.ingress.member_retries
        plans = build_tier_plans(
            self.config,
            lambda name: local_caller(self.local_members[name]) if name in self.local_members
            else handle_caller(member_handles[name], retries=retries),
        )
        prices = DeviceClock(catalog).usd_per_second_by_class()
        self.stats = StatsAggregator([(t.name, t.gpu_class) for t in self.config.tiers],
                                     prices=prices)
        from serve_app.redundancy_wiring import wire_redundancy

        plans, self.redundancy = wire_redundancy(self.config, plans, member_handles)
        self.runner = CascadeRunner(
            plans,
            num_classes=self.config.num_classes,
            price_per_second=prices,
            member_timeout_s=self.config.ingress.member_timeout_s,
            on_waste=self.stats.record_wasted,
            on_member_call=self.stats.record_member_call,
        )
        self.limits = self.config.ingress
        self.reader = ClassifyReader(self.limits)
        self.admission = ImageBudget(self.limits.max_inflight_images, self.limits.retry_after_s)
        self.replica_watch = replica_watch_for(self)  # the door follows the first tier
        self.metrics = CascadeMetrics()
        self.traffic, self.traffic_metrics = TrafficSplit(), TrafficMetrics()
        self._member_handles, self._catalog_path = member_handles, catalog_path
        self._weights: dict[str, str] | None = None  # member weight hashes, asked once
        self._class_names = [self.config.class_name(i) for i in range(self.config.num_classes)]
        self.admin_digest = admin_token_sha256  # read by the require_admin dependency
        self._start_keeper()
        self._start_gears()
        self.policy_sync = policy_sync_for(self)  # the app's one versioned policy store

    def _start_keeper(self) -> None:
        """The budget keeper (serve_app.budget_keeper) when the config has a budget."""
        from serve_app.budget_keeper import BudgetKeeper, KeeperMetrics, learned_thresholds

        self.keeper, self.keeper_metrics = None, None
        # the configured B, offered to the policy store (an admin's B lives there)
        self.configured_budget = None if self.config.budget is None else self.config.budget.target
        if self.config.budget is not None:
            base = learned_thresholds(self.config.tiers)
            self.keeper = BudgetKeeper.from_budget(self.config.budget, base)
            self.keeper_metrics = KeeperMetrics()

    def _start_gears(self) -> None:
        """The load-gear shifter (serve_app.gear_shift) when the config has gears."""
        from serve_app.gear_shift import GearMetrics, GearShifter

        self.gears, self.gear_metrics = None, None
        if self.config.gears is not None:
            self.gears = GearShifter(self.config.gears, [t.name for t in self.config.tiers])
            self.gear_metrics = GearMetrics()
            self._apply_gear()

    def _shift_gear(self, images: int) -> None:
        """Count arrivals; on a gear change the runner's thresholds follow (models stay)."""
        if self.gears is None:
            return
        switched = self.gears.observe(time.monotonic(), images)
        if switched:
            logger.info("load gear -> %s at %.1f images/s", self.gears.name,
                        self.gears.rate_per_s)
            self._apply_gear()
        self.gear_metrics.record(self.gears, switched)

    def _apply_gear(self) -> None:
        from serve_app.budget_keeper import apply_thresholds

        self.runner.tiers = apply_thresholds(self.runner.tiers, self.gears.thresholds())

    def _keep_budget(self, outcomes: list[ImageOutcome]) -> None:
        """Feed realised costs to the keeper; when it moves, the runner's thresholds follow."""
        from serve_app.budget_keeper import apply_thresholds, outcome_cost

        if self.keeper is None:
            return
        costs = [outcome_cost(o, self.keeper.unit) for o in outcomes if o.label is not None]
        if self.keeper.observe(costs):
            self.runner.tiers = apply_thresholds(self.runner.tiers, self.keeper.thresholds())
        self.keeper_metrics.record(self.keeper)

    def record_autoscaling_stats(self) -> dict[str, float]:
        """Counters Serve hands to the application-level autoscaling policy
        (serve_app.autoscale_policy): images answered, exits per tier, and images refused
        at the image door (while it refuses, the answer rate is the capacity, not the
        demand, and the policy does not scale down)."""
        from serve_app.autoscale_policy import ingress_autoscaling_stats

        answered, exits = self.stats.counters()
        return ingress_autoscaling_stats(answered, exits, self.admission.refused_images)

    async def reconfigure(self, user_config: dict) -> None:
        """Serve calls this with the deployment's user_config (at start and on every
        update, without restarting the replica). Validates everything first, so an
        invalid update leaves the live policy as it was. Applied here at once, then
        offered to the policy store (serve_app.policy_store) in the background: the
        store's live version (e.g. an admin's change) replaces it within moments, and a
        slow store start never delays the replica's start. Also starts the replica watch
        (serve_app.replica_watch, when ingress.door_follows_replicas) on the event loop."""
        self.replica_watch.ensure_started()
        if user_config:
            update = self._known_tiers(PolicyUpdate.model_validate(user_config))
            self._apply(update)
            self.policy_sync.offer_config_soon(update.model_dump(mode="json")["exit_policies"],
                                               self.configured_budget)

    def _apply_snapshot(self, snapshot: dict) -> None:
        """Make a policy-store snapshot live here (called when its version is new)."""
        update = PolicyUpdate.model_validate({"exit_policies": snapshot["exit_policies"],
                                              "budget": snapshot.get("budget")})
        if update.budget is not None and self.keeper is None:
            update = update.model_copy(update={"budget": None})  # no keeper here: nothing to set
        self._apply(self._known_tiers(update))

    def _known_tiers(self, update: PolicyUpdate) -> PolicyUpdate:
        """`update`, unless it names a tier this cascade does not have (a 422)."""
        known = [t.name for t in self.config.tiers]
        unknown = sorted(set(update.exit_policies) - set(known))
        if unknown:
            raise InputError(
                "invalid_policy",
                f"exit_policies.{unknown[0]}: unknown tier; tiers are {', '.join(known)}",
                status=422,
            )
        from serve_app.budget_keeper import check_update

        # a learned scheduler must fit its tier
        check_update(self.config, update, self.keeper, self.catalog_path)
        sizes = {t.name: len(t.members) for t in self.config.tiers}
        for name, policy in update.exit_policies.items():
            if policy.min_members is not None and policy.min_members > sizes[name]:
                raise InputError(
                    "invalid_policy",
                    f"exit_policies.{name}.min_members: {policy.min_members} exceeds the "
                    f"tier's {sizes[name]} member(s)",
                    status=422,
                )
        return update

    def _apply(self, update: PolicyUpdate) -> None:
        """Make `update` live: in the runner, and in the config GET /v1/cascade shows."""
        by_name = update.exit_policies
        self.runner.tiers = tuple(
            dataclasses.replace(plan, policy=by_name[plan.name].kind,
                                threshold=by_name[plan.name].threshold,
                                scheduler=by_name[plan.name].scheduler.build()
                                if by_name[plan.name].scheduler else None,
                                min_members=by_name[plan.name].min_members)
            if plan.name in by_name else plan
            for plan in self.runner.tiers
        )
        tiers = [
            tier.model_copy(update={"exit_policy": by_name[tier.name]})
            if tier.name in by_name else tier
            for tier in self.config.tiers
        ]
        self.config = self.config.model_copy(update={"tiers": tiers})
        if self.keeper is not None:
            from serve_app.budget_keeper import apply_thresholds, learned_thresholds

            if update.budget is not None:
                self.keeper.set_target(update.budget)
                budget = self.config.budget.model_copy(update={"target": update.budget})
                self.config = self.config.model_copy(update={"budget": budget})
            self.keeper.rebase(learned_thresholds(self.config.tiers))
            self.runner.tiers = apply_thresholds(self.runner.tiers, self.keeper.thresholds())
        if self.gears is not None:  # the active gear's thresholds win on tiers 0..n-2
            self._apply_gear()

    def live_policies(self) -> dict:
        """Every tier's live policy: the runner's threshold (keeper included), the config's
        scheduler."""
        config = {t.name: t.exit_policy for t in self.config.tiers}
        return {
            plan.name: config[plan.name].model_copy(update={
                "kind": plan.policy, "threshold": plan.threshold, "min_members": plan.min_members})
            for plan in self.runner.tiers
        }

    @fastapi_app.put(
        ADMIN_PATH,
        response_model=PolicyUpdate,
        dependencies=[Depends(require_admin)],
        responses=error_responses(401, 403, 404, 413, 422),
        openapi_extra=POLICY_BODY,
    )
    async def update_policy(self, request: Request) -> PolicyUpdate:
        """Admin: change exit policies at runtime, no restart (bearer token from
        COE_ADMIN_TOKEN). Answers every tier's live policy."""
        body = await read_body(request, ADMIN_BODY_LIMIT, f"policy body over {ADMIN_BODY_LIMIT} B")
        update = self._known_tiers(parse_json(body, PolicyUpdate, "invalid_policy"))
        live = {name: policy.model_dump(mode="json")
                for name, policy in self.live_policies().items()}
        # B goes through the store too: every replica's keeper gets the new target
        await self.policy_sync.update(update.model_dump(mode="json")["exit_policies"], live,
                                      budget=update.budget)
        logger.info("exit policies changed by admin (version %d): %s",
                    self.policy_sync.version, self.live_policies())
        budget = None if self.keeper is None else self.keeper.target
        return PolicyUpdate.model_validate({"exit_policies": self.live_policies(),
                                            "budget": budget})

    @fastapi_app.post(
        "/v1/classify",
        response_model=ClassifyResponse,
        responses=error_responses(400, 413, 415, 422, 500, 503, 504),
        openapi_extra=CLASSIFY_BODY,
    )
    async def classify(self, request: Request) -> ClassifyResponse:
        """Classify images through the cascade: each prediction carries its tier trace
        and its cost. Optional deadline header: ingress.deadline_header (ms). Edge clients
        send X-Coe-Start-Tier (1..last) and may send X-Coe-Edge-Votes (edge_protocol)."""
        start = time.perf_counter()
        try:
            deadline_s = self.reader.deadline_s(request)
            start_tier = parse_start_tier(request.headers.get(START_TIER_HEADER), self.config)
            deadline_at = None if deadline_s is None else start + deadline_s
            with self.admission.holding() as admit:  # in-flight images, released at the end
                images = await self.reader.images(request, deadline_at, admit)
                decoded = time.perf_counter()
                self._shift_gear(len(images))
                edge = parse_edge_votes(
                    request.headers.get(EDGE_VOTES_HEADER), self.config, start_tier, len(images))
                outcomes = await self.runner.run(
                    images, deadline_s=deadline_s, started=start, start_tier=start_tier)
            ran = time.perf_counter()
            attach_edge_traces(outcomes, edge)
            answer = self._answer(outcomes)
            self._record(start_tier, outcomes)
            self.stats.record_request_parts((decoded - start) * 1000.0, (ran - decoded) * 1000.0,
                                            (time.perf_counter() - ran) * 1000.0)
            # Nobody will read it. A cancel that raced with the answer lands here too.
            if await request.is_disconnected():
                self.stats.record_client_closed()
                return answer
        except (InputError, CascadeError, Overloaded) as exc:  # answered by its handler
            self._account(exc.status, start)
            raise
        except (asyncio.CancelledError, TaskCancelledError) as exc:  # the client went away
            self.stats.record_client_closed()  # Serve's receive raises the latter once it has
            raise asyncio.CancelledError() from exc
        except Exception as exc:  # a server bug, not the client's fault: a JSON 500
            logger.exception("classify failed")
            self._account(500, start)
            raise CascadeError("the cascade failed; see server logs") from exc
        self._account(200, start)
        return answer

    def _record(self, start_tier: int, outcomes) -> None:
        """Count answered images in stats, metrics, edge traffic and the budget keeper."""
        self.stats.record_outcomes(outcomes)
        self.metrics.record_outcomes(outcomes)
        self.traffic.record(start_tier, outcomes)
        self.traffic_metrics.record(start_tier, outcomes)
        self._keep_budget(outcomes)

    @fastapi_app.get("/v1/cascade", response_model=CascadeDescription)
    async def cascade(self) -> CascadeDescription:
        """The cascade's config with the live exit policies and their store version, and the
        members' weight hashes (what an edge client must match)."""
        from serve_app.edge_weights import member_weights

        try:  # the store's latest version; if it is slow to answer, the one applied here
            await asyncio.wait_for(self.policy_sync.refresh(), timeout=2.0)
        except Exception as exc:  # noqa: BLE001
            logger.warning("policy store refresh failed (%s)", type(exc).__name__)
        weights = self._weights or await member_weights(
            self.config, self.local_members, self._member_handles)
        if len(weights) == sum(len(t.members) for t in self.config.tiers):
            self._weights = weights  # all members answered: cache (weights never change)
        return describe(self.config, weights, self._catalog_path,
                        policy_version=self.policy_sync.version,
                        policy_source=self.policy_sync.source, replica=_replica_id())

    @fastapi_app.get("/v1/stats", response_model=StatsResponse)
    async def stats_view(self) -> StatsResponse:
        snapshot = self.stats.snapshot().model_copy(update={"traffic": self.traffic.snapshot()})
        if self.redundancy is not None:
            snapshot.redundancy = self.redundancy.snapshot()
        if self.keeper is not None:
            snapshot.budget = self.keeper.snapshot()
        if self.gears is not None:
            snapshot.gears = self.gears.snapshot()
        snapshot.door = door_stats(self.admission, self.replica_watch)
        return snapshot

    @fastapi_app.get("/healthz", response_model=HealthResponse)
    async def healthz(self) -> HealthResponse:
        return HealthResponse(status="ok", cascade=self.config.name,
                              tiers=len(self.config.tiers))

    async def run_images(self, images: list, deadline_s: float | None,
                         start: float) -> list[ImageOutcome]:
        """Outcomes of decoded images, counted in the stats and metrics; raises CascadeError
        when one has no acceptable answer (serve_app.oip's infer route)."""
        self._shift_gear(len(images))
        outcomes = await self.runner.run(images, deadline_s=deadline_s, started=start)
        self._answer(outcomes)
        self._record(0, outcomes)
        return outcomes

    def _account(self, status: int, start: float) -> None:
        """Count one classify response (every status) in the stats and the metrics."""
        latency_ms = (time.perf_counter() - start) * 1000.0
        self.stats.record_response(status, latency_ms)
        self.metrics.record_response(status, latency_ms)

    def _answer(self, outcomes: list[ImageOutcome]) -> ClassifyResponse:
        """The predictions; raises DeadlineExceeded / CascadeUnavailable when an image has
        no acceptable answer."""
        expired = [i for i, o in enumerate(outcomes) if o.deadline_expired]
        if expired and (self.limits.on_deadline == "error" or any(
            outcomes[i].label is None for i in expired
        )):
            reasons = "; ".join(outcomes[expired[0]].reasons)
            raise DeadlineExceeded(f"image(s) {expired} not answered in time: {reasons}")
        failed = [i for i, o in enumerate(outcomes) if o.label is None]
        if failed:
            reasons = "; ".join(outcomes[failed[0]].reasons)
            raise CascadeUnavailable(
                f"no tier answered image(s) {failed}: {reasons}",
                retry_after(self.limits.retry_after_s),
            )
        return ClassifyResponse(predictions=[
            Prediction.from_outcome(o, self._class_names[o.label]) for o in outcomes
        ], gear=None if self.gears is None else self.gears.name)
