"""configs/serve-config.yaml is a valid Serve config whose builder args build the cascade.

No Ray runtime needed: Serve's own schema and builder-call helper are applied to the file.
"""

from pathlib import Path

import yaml
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from cascade.config import load_cascade
from cost_model.catalog import load_catalog
from serve_app.app import build_app

REPO = Path(__file__).resolve().parents[2]


def test_serve_config_yaml_builds_every_deployment():
    raw = yaml.safe_load((REPO / "configs" / "serve-config.yaml").read_text())
    schema = ServeDeploySchema.model_validate(raw) if hasattr(
        ServeDeploySchema, "model_validate") else ServeDeploySchema.parse_obj(raw)
    (app_schema,) = schema.applications
    assert app_schema.import_path == "serve_app.app:build_app"
    app = call_user_app_builder_with_args_if_necessary(build_app, app_schema.args)
    ingress = app._bound_deployment
    assert ingress.name == "CascadeIngress"
    handles, local_members = ingress.init_args[1], ingress.init_args[4]
    config = load_cascade(REPO / app_schema.args["config"])
    assert config.ingress.colocate_first_tier  # the planner's default
    first, *rest = config.tiers
    expected = {f"{t.name}-{m.member_name}": (t, m) for t in rest for m in t.members}
    assert sorted(handles) == sorted(expected)
    # the first tier runs inside the ingress, which takes that tier's class and GPU share
    assert [m["name"] for m in local_members] == [
        f"{first.name}-{m.member_name}" for m in first.members]
    resource = load_catalog().get(first.gpu_class).resource_name
    assert ingress.ray_actor_options["resources"] == {resource: 0.001}
    assert ingress.ray_actor_options["num_gpus"] == sum(m.gpu_fraction for m in first.members)
    for name, (tier, member) in expected.items():
        options = handles[name]._bound_deployment.ray_actor_options
        resource = load_catalog().get(tier.gpu_class).resource_name
        assert options["resources"] == {resource: 0.001}
        assert options["num_gpus"] == member.gpu_fraction and options["num_cpus"] == 0.25
