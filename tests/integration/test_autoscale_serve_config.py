"""configs/serve-config-autoscale.yaml: Serve accepts it, its members autoscale, and its
application-level policy resolves to the escalation-aware policy with the cascade's models.

No Ray runtime needed: Serve's own schema, policy resolver and builder helper are applied.
"""

from pathlib import Path

import yaml
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve._private.autoscaling_state import _resolve_policy_callable
from ray.serve.config import AutoscalingPolicy
from ray.serve.schema import ServeDeploySchema

from cascade.autoscaling import INGRESS_METRICS_INTERVAL_S, PUSHES_PER_WINDOW
from serve_app.app import build_app
from serve_app.autoscale_policy import EscalationAwareAppPolicy

REPO = Path(__file__).resolve().parents[2]


def test_autoscale_serve_config_builds_and_resolves_the_app_policy():
    raw = yaml.safe_load((REPO / "configs" / "serve-config-autoscale.yaml").read_text())
    (app_schema,) = ServeDeploySchema.model_validate(raw).applications
    policy = _resolve_policy_callable(AutoscalingPolicy(**app_schema.autoscaling_policy))
    assert isinstance(policy, EscalationAwareAppPolicy)
    # the policy's window spans three of the ingress's counter pushes
    assert policy.rate_window_s == PUSHES_PER_WINDOW * INGRESS_METRICS_INTERVAL_S
    assert policy.min_interval_s == INGRESS_METRICS_INTERVAL_S
    app = call_user_app_builder_with_args_if_necessary(build_app, app_schema.args)
    ingress = app._bound_deployment
    pinned = ingress._deployment_config.autoscaling_config
    assert pinned.min_replicas == pinned.max_replicas == 1  # counters are collected from it
    # pushed every 2 s and averaged over 4 s, not Serve's 10 s / 30 s
    assert pinned.metrics_interval_s == INGRESS_METRICS_INTERVAL_S < 10.0
    assert pinned.look_back_period_s < 30.0
    handles = ingress.init_args[1]
    assert sorted(handles) == sorted(m.deployment for m in policy.members)
    for handle in handles.values():
        scaling = handle._bound_deployment._deployment_config.autoscaling_config
        assert scaling is not None and scaling.max_replicas == 2
