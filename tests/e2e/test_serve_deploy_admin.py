"""The admin API under plain `serve deploy`, as the README tells a Ray user to run it.

`coe cluster up`, `eval "$(coe cluster env)"`, then `serve deploy` of configs/serve-config.yaml
with the token in the application's runtime_env and `admin_api: required` (the only changes:
this test's Serve port and two ingress replicas). A policy PUT with the token must reach BOTH
ingress replicas (one policy store), and still be live on both after one replica is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "e2e" / "cluster_admin.yaml"
CLUSTER = "coe-e2e-admin"
BASE = "http://127.0.0.1:18702"
TOKEN = "e2e-admin-token-5b1d"  # test-only secret
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVE = Path(sys.executable).with_name("serve")


def run(env, *args, timeout=600):
    result = subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def cluster_env(base_env) -> dict:
    """What `eval "$(coe cluster env)"` puts in a shell."""
    out = run(base_env, sys.executable, "-m", "coe", "cluster", "env", CLUSTER)
    env = dict(base_env)
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


def serve_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO / "configs" / "serve-config.yaml").read_text())
    config["http_options"]["port"] = 18702
    app = config["applications"][0]
    cascade = yaml.safe_load((REPO / app["args"]["config"]).read_text())
    cascade["ingress"]["replicas"] = 2
    app["args"]["config"] = cascade  # inline: the same cascade, two ingress replicas
    app["args"]["admin_api"] = "required"
    app["runtime_env"] = {"env_vars": {"COE_ADMIN_TOKEN": TOKEN}}
    path = tmp_path / "serve-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    base = dict(os.environ, COE_CLUSTER=CLUSTER)
    for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "COE_ADMIN_TOKEN"):
        base.pop(key, None)
    try:
        run(base, sys.executable, "-m", "coe", "cluster", "up", str(SPEC))
        env = cluster_env(base)
        run(env, str(SERVE), "deploy", str(serve_config(tmp_path_factory.mktemp("cfg"))))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(BASE + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(3)
        else:
            pytest.fail("the app never became healthy")
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "coe", "cluster", "down", CLUSTER, "--grace",
                        "10"], cwd=REPO, env=base, capture_output=True, timeout=180)


def views_by_replica(want: int = 2, tries: int = 60) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for _ in range(tries):
        view = httpx.get(BASE + "/v1/cascade", timeout=30).json()
        seen[view["replica"]] = view
        if len(seen) >= want:
            break
    return seen


def kill_one_ingress(env) -> str:
    code = (
        "import ray, sys\n"
        "ray.init(address='auto', logging_level='error')\n"
        "names = sorted(a['name'] for a in ray.util.list_named_actors(all_namespaces=True)\n"
        "               if 'CascadeIngress' in a['name'] and a.get('namespace') == 'serve')\n"
        "ray.kill(ray.get_actor(names[0], namespace='serve'), no_restart=True)\n"
        "print(names[0])\n"
    )
    return run(env, sys.executable, "-c", code).strip()


@pytest.mark.timeout(1500)
def test_policy_change_with_the_token_reaches_both_replicas_and_survives_a_kill(deployed):
    first = httpx.get(BASE + "/v1/cascade", timeout=30).json()["tiers"][0]
    tier, kind = first["name"], first["exit_policy"]["kind"]  # the planner's family
    assert httpx.put(BASE + "/v1/cascade/policy", timeout=30, json={
        "exit_policies": {tier: {"kind": kind, "threshold": 0.5}}}).status_code == 401
    put = httpx.put(BASE + "/v1/cascade/policy", headers=AUTH, timeout=30, json={
        "exit_policies": {tier: {"kind": kind, "threshold": 0.5}}})
    assert put.status_code == 200, put.text
    time.sleep(2)  # replicas poll the store every 0.5 s
    before = views_by_replica()
    assert len(before) == 2
    for view in before.values():
        assert view["tiers"][0]["exit_policy"]["threshold"] == 0.5
        assert view["policy_source"] == "admin"
    kill_one_ingress(deployed)
    deadline = time.monotonic() + 300
    after: dict = {}
    while time.monotonic() < deadline:
        try:
            after = views_by_replica()
        except httpx.HTTPError:
            after = {}
        if len(after) == 2 and set(after) != set(before):
            break
        time.sleep(3)
    assert len(after) == 2 and set(after) != set(before), "no replacement replica answered"
    time.sleep(2)
    for view in views_by_replica().values():
        assert view["tiers"][0]["exit_policy"]["threshold"] == 0.5
        assert view["policy_source"] == "admin"
