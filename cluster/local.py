"""Start, reach and stop a real multi-node Ray cluster on this machine from a ClusterSpec.

Every node is its own `ray start --block` process (head first, then one per pool node),
started in a new session: that process owns the node's GCS/raylet/agents/workers and shuts
them down on SIGTERM, so `down` stops exactly our trees by PID and never runs `ray stop`
(which would kill every other Ray on the machine). Pool nodes advertise logical GPUs and
the `accelerator_type:<X>` resource of their GPU class, which is what placement asks for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from cluster import auth, processes
from cluster.placement import HEAD_RESOURCE
from cluster.spec import ClusterSpec, load_cluster_spec
from cluster.state import (
    ClusterState,
    NodePorts,
    NodeState,
    load_state,
    remove_state,
    resolve_cluster_name,
    save_state,
    state_dir,
)
from cost_model.catalog import GPUCatalog, load_catalog

LABEL_PREFIX = "coe-serve"
NAMESPACE = "coe"
# The head advertises this much of HEAD_RESOURCE; ingress replicas take 0.001 each.
HEAD_RESOURCE_TOTAL = 1
# Ray's own convention on real GPU nodes: accelerator_type:<X> = 1 per node.
ACCELERATOR_RESOURCE_TOTAL = 1
MB = 1024 * 1024
DRAIN_TIMEOUT_ENV = "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"
# Written into the temp dir by `ray start` once the node is fully up (ray._common.utils).
RAY_ADDRESS_FILE = "ray_current_cluster"
WORKER_START_ATTEMPTS = 5  # ray start gives up after 30 s when the machine is overloaded
# What ray_env() sets to reach a cluster (printed by `coe cluster env`).
CLUSTER_ENV_KEYS = (
    "RAY_AUTH_MODE",
    "RAY_AUTH_TOKEN_PATH",
    "RAY_ADDRESS",
    "RAY_DASHBOARD_ADDRESS",
    "RAY_API_SERVER_ADDRESS",
)


class ClusterStartError(RuntimeError):
    """`up` could not bring every node up; the message says which and where the log is."""


def ray_executable() -> str:
    """The `ray` script of the running interpreter's environment (the project venv)."""
    candidate = Path(sys.executable).with_name("ray")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("ray")
    if not found:
        raise FileNotFoundError("the `ray` executable was not found next to python or on PATH")
    return found


def node_ports(spec: ClusterSpec, index: int) -> NodePorts:
    """Ports of node `index` (0 = head): its own block so nodes on one machine never clash."""
    ports = spec.head.ports
    base = ports.node_port_base + index * ports.block_size
    first_worker = base + 8
    return NodePorts(
        node_manager=base,
        object_manager=base + 1,
        dashboard_agent_listen=base + 2,
        dashboard_agent_grpc=base + 3,
        runtime_env_agent=base + 4,
        metrics_export=base + 5,
        ray_client_server=base + 6,
        min_worker=first_worker,
        max_worker=first_worker + ports.worker_ports_per_node - 1,
    )


def _labels(spec: ClusterSpec, pool: str, gpu_class: str | None) -> str:
    labels = {f"{LABEL_PREFIX}/cluster": spec.name, f"{LABEL_PREFIX}/pool": pool}
    if gpu_class:
        labels[f"{LABEL_PREFIX}/gpu-class"] = gpu_class
    return ",".join(f"{key}={value}" for key, value in labels.items())


def _common_flags(ports: NodePorts, num_cpus: int, memory_gb: float | None, store_mb: int):
    flags = [
        "--block",
        "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={num_cpus}",
        f"--object-store-memory={store_mb * MB}",
        f"--node-manager-port={ports.node_manager}",
        f"--object-manager-port={ports.object_manager}",
        f"--dashboard-agent-listen-port={ports.dashboard_agent_listen}",
        f"--dashboard-agent-grpc-port={ports.dashboard_agent_grpc}",
        f"--runtime-env-agent-port={ports.runtime_env_agent}",
        f"--metrics-export-port={ports.metrics_export}",
        f"--min-worker-port={ports.min_worker}",
        f"--max-worker-port={ports.max_worker}",
    ]
    if memory_gb is not None:
        flags.append(f"--memory={int(memory_gb * 1024 * MB)}")
    return flags


def plan_nodes(
    spec: ClusterSpec,
    catalog: GPUCatalog | None = None,
    ray: str = "ray",
    log_dir: Path | None = None,
) -> list[NodeState]:
    """The nodes of `spec` with the exact `ray start` argv of each (pure: starts nothing)."""
    catalog = catalog or load_catalog()
    spec.check_gpu_classes(catalog)
    log_dir = log_dir or Path(spec.resolved_temp_dir()) / "coe-logs"
    head = spec.head
    head_ports = node_ports(spec, 0)
    head_name = f"{spec.name}-head"
    head_argv = [
        ray,
        "start",
        "--head",
        f"--port={head.ports.gcs}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={head.ports.dashboard}",
        f"--ray-client-server-port={head_ports.ray_client_server}",
        f"--temp-dir={spec.resolved_temp_dir()}",
        f"--node-name={head_name}",
        f"--labels={_labels(spec, 'head', None)}",
        "--num-gpus=0",
        f"--resources={json.dumps({HEAD_RESOURCE: HEAD_RESOURCE_TOTAL})}",
        *_common_flags(head_ports, head.num_cpus, head.memory_gb, head.object_store_mb),
    ]
    nodes = [
        NodeState(
            name=head_name,
            role="head",
            num_cpus=head.num_cpus,
            ports=head_ports,
            argv=head_argv,
            log_path=str(log_dir / f"{head_name}.log"),
        )
    ]
    index = 1
    for pool in spec.pools:
        gpu = catalog.get(pool.gpu_class)
        for replica in range(pool.node_count):
            name = f"{spec.name}-{pool.name}-{replica}"
            ports = node_ports(spec, index)
            argv = [
                ray,
                "start",
                f"--address={spec.address}",
                f"--node-name={name}",
                f"--labels={_labels(spec, pool.name, pool.gpu_class)}",
                f"--num-gpus={pool.gpus_per_node}",
                f"--resources={json.dumps({gpu.resource_name: ACCELERATOR_RESOURCE_TOTAL})}",
                *_common_flags(ports, pool.num_cpus, pool.memory_gb, pool.object_store_mb),
            ]
            nodes.append(
                NodeState(
                    name=name,
                    role="worker",
                    pool=pool.name,
                    gpu_class=pool.gpu_class,
                    accelerator_type=gpu.accelerator_type,
                    num_gpus=pool.gpus_per_node,
                    num_cpus=pool.num_cpus,
                    ports=ports,
                    argv=argv,
                    log_path=str(log_dir / f"{name}.log"),
                )
            )
            index += 1
    return nodes


def token_path_for(name: str) -> Path:
    return state_dir() / f"{name}.token"


def ray_env(name: str | None = None) -> dict[str, str]:
    """os.environ plus what reaches cluster `name` with token auth (RAY_ADDRESS included).

    Without a recorded cluster (none up, or several and no name) only RAY_AUTH_MODE=token
    is added, so Ray falls back to ~/.ray/auth_token like a plain `ray start --head` would.
    """
    env = dict(os.environ)
    try:
        state = load_state(resolve_cluster_name(name))
    except (FileNotFoundError, ValueError):
        if name:
            raise
        state = None
    if state is None:
        if name:
            raise FileNotFoundError(f"cluster {name!r} is not up (no state file)")
        env.update(auth.auth_env(None))
        return env
    env = auth.with_auth(env, state.token_path)
    env["RAY_ADDRESS"] = state.address
    env["RAY_DASHBOARD_ADDRESS"] = state.dashboard_url
    env["RAY_API_SERVER_ADDRESS"] = state.dashboard_url
    return env


def _resolve_state(spec_or_name: ClusterSpec | str | Path | None) -> ClusterState:
    if isinstance(spec_or_name, ClusterSpec):
        name = spec_or_name.name
    elif spec_or_name is not None and (
        str(spec_or_name).endswith((".yaml", ".yml")) or Path(spec_or_name).is_file()
    ):
        name = load_cluster_spec(spec_or_name).name
    else:
        name = resolve_cluster_name(str(spec_or_name) if spec_or_name else None)
    state = load_state(name)
    if state is None:
        raise FileNotFoundError(f"cluster {name!r} is not up; start it with `coe cluster up`")
    return state


def connect(spec_or_name: ClusterSpec | str | Path | None = None, **init_kwargs) -> str:
    """Join cluster `spec_or_name` (default: the only one up) as a driver; return its address.

    Sets the token-auth variables in os.environ first, so this process and anything it
    starts (Serve CLI, subprocesses) authenticate; namespace "coe" unless overridden.
    """
    state = _resolve_state(spec_or_name)
    auth.apply_to_this_process(state.token_path)
    import ray

    if ray.is_initialized():
        return state.address
    init_kwargs.setdefault("namespace", NAMESPACE)
    ray.init(address=state.address, **init_kwargs)
    return state.address


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like Ray's servers: lingering TIME_WAIT connections do not make a port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def busy_ports(spec: ClusterSpec, nodes: list[NodeState]) -> list[str]:
    """Which of the ports the cluster needs are taken already (named by node and role)."""
    wanted: list[tuple[str, int]] = [
        ("head gcs", spec.head.ports.gcs),
        ("head dashboard", spec.head.ports.dashboard),
    ]
    for node in nodes:
        ports = node.ports
        for field, port in ports.model_dump().items():
            if field in ("min_worker", "max_worker"):
                continue
            if field == "ray_client_server" and node.role != "head":
                continue
            wanted.append((f"{node.name} {field}", port))
        wanted += [
            (f"{node.name} worker port", port)
            for port in range(ports.min_worker, ports.max_worker + 1)
        ]
    return [f"{label} ({port})" for label, port in wanted if not _port_free(port)]


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start_node(node: NodeState, env: dict[str, str]) -> subprocess.Popen:
    Path(node.log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(node.log_path, "ab") as log:
        process = subprocess.Popen(
            node.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session: survives `up`, found again by session id
        )
    node.pid = process.pid
    node.create_time = processes.process_create_time(process.pid)
    return process


def _wait_for_head(spec: ClusterSpec, process: subprocess.Popen, node: NodeState, timeout_s: float):
    """Wait until the head finished starting: `ray start` writes the address file only then.

    An open GCS port is not enough: workers that join before the head registered itself
    fail with "Failed to get node info: Deadline Exceeded" on a busy machine.
    """
    address_file = Path(spec.resolved_temp_dir()) / RAY_ADDRESS_FILE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterStartError(
                f"{node.name} exited with code {process.returncode} while starting; "
                f"log {node.log_path}:\n{_tail(node.log_path)}"
            )
        if address_file.is_file() and address_file.read_text().strip():
            return
        time.sleep(0.3)
    raise ClusterStartError(
        f"{node.name} did not finish starting within {timeout_s:.0f}s (no {address_file}); "
        f"log {node.log_path}:\n{_tail(node.log_path)}"
    )


def _wait_for_nodes(
    state: ClusterState,
    started: dict[str, subprocess.Popen],
    env: dict[str, str],
    timeout_s: float,
    progress: bool,
) -> None:
    """Poll ray.nodes() as a driver until every node of `state` is alive; record node ids.

    A worker whose `ray start` gives up while joining (it happens on a loaded machine) is
    started again, up to WORKER_START_ATTEMPTS times.
    """
    attempts = {node.name: 1 for node in state.nodes}
    auth.apply_to_this_process(state.token_path)
    import ray
    from tqdm import tqdm

    ray.init(
        address=state.address, namespace=NAMESPACE, log_to_driver=False, logging_level="WARNING"
    )
    try:
        expected = {node.name for node in state.nodes}
        bar = tqdm(total=len(expected), desc="nodes alive", unit="node", disable=not progress)
        deadline = time.monotonic() + timeout_s
        alive: dict[str, dict] = {}
        while True:
            for node in state.nodes:
                process = started.get(node.name)
                if process is None or process.poll() is None:
                    continue
                if node.role == "worker" and attempts[node.name] < WORKER_START_ATTEMPTS:
                    attempts[node.name] += 1
                    leftovers = processes.owned_tree(node.pid, node.create_time)
                    processes.stop_trees([leftovers], grace_s=5.0)
                    started[node.name] = _start_node(node, env)
                    save_state(state)
                else:
                    raise ClusterStartError(
                        f"{node.name} exited with code {process.returncode} while joining; "
                        f"log {node.log_path}:\n{_tail(node.log_path)}"
                    )
            alive = {
                info["NodeName"]: info
                for info in ray.nodes()
                if info.get("Alive") and info.get("NodeName") in expected
            }
            bar.update(len(alive) - bar.n)
            if len(alive) == len(expected):
                break
            if time.monotonic() >= deadline:
                missing = sorted(expected - set(alive))
                details = "\n".join(
                    f"--- {name} (log {state.node_by_name(name).log_path}):\n"
                    f"{_tail(state.node_by_name(name).log_path, 8)}"
                    for name in missing
                )
                raise ClusterStartError(
                    f"timed out after {timeout_s:.0f}s waiting for nodes: {', '.join(missing)}"
                    f"\n{details}"
                )
            time.sleep(0.5)
        bar.close()
        for node in state.nodes:
            node.node_id = alive[node.name]["NodeID"]
        state.node_ip = alive[state.nodes[0].name].get("NodeManagerAddress")
    finally:
        ray.shutdown()


def recorded_processes_alive(state: ClusterState) -> list[int]:
    """PIDs of the node processes `up` recorded that still run (same process, not reused)."""
    return [
        node.pid
        for node in state.nodes
        if processes.owned_root(node.pid, node.create_time) is not None
    ]


def up(
    spec_path: str | Path | None = None,
    timeout_s: float = 180.0,
    progress: bool = True,
    catalog: GPUCatalog | None = None,
) -> tuple[ClusterState, bool]:
    """Start the cluster of `spec_path`; return (state, started_now). Idempotent.

    If the cluster is already up (its recorded processes still run) nothing is started.
    On failure every process started so far is stopped and the state file removed.
    """
    spec = load_cluster_spec(spec_path, catalog=catalog)
    existing = load_state(spec.name)
    if existing is not None:
        if recorded_processes_alive(existing):
            return existing, False
        remove_state(spec.name)  # stale: its processes are gone

    log_dir = state_dir() / f"{spec.name}-logs"
    nodes = plan_nodes(spec, catalog, ray=ray_executable(), log_dir=log_dir)
    busy = busy_ports(spec, nodes)
    if busy:
        shown = ", ".join(busy[:8]) + (f" and {len(busy) - 8} more" if len(busy) > 8 else "")
        raise ClusterStartError(
            f"cannot start cluster {spec.name!r}: ports already in use: {shown}. "
            "Another Ray may be running on them; change head.ports in the spec."
        )

    token = auth.ensure_token(token_path_for(spec.name))
    env = auth.with_auth(dict(os.environ), token)
    for variable in ("RAY_ADDRESS", "RAY_DASHBOARD_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        env.pop(variable, None)
    # `down` stops the whole cluster, so a SIGTERMed node has nowhere to drain replicas to;
    # Ray's default 30 s drain would only delay teardown.
    env.setdefault(DRAIN_TIMEOUT_ENV, "0")
    Path(spec.resolved_temp_dir()).mkdir(parents=True, exist_ok=True)
    state = ClusterState(
        name=spec.name,
        spec_path=str(Path(spec_path).resolve()) if spec_path else None,
        spec=spec,
        address=spec.address,
        dashboard_url=f"http://127.0.0.1:{spec.head.ports.dashboard}",
        serve_http_port=spec.head.ports.serve_http,
        temp_dir=spec.resolved_temp_dir(),
        token_path=str(token),
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        nodes=nodes,
    )
    started: dict[str, subprocess.Popen] = {}
    try:
        head = nodes[0]
        (Path(spec.resolved_temp_dir()) / RAY_ADDRESS_FILE).unlink(missing_ok=True)
        started[head.name] = _start_node(head, env)
        save_state(state)
        _wait_for_head(spec, started[head.name], head, timeout_s)
        for node in nodes[1:]:
            started[node.name] = _start_node(node, env)
            save_state(state)
        _wait_for_nodes(state, started, env, timeout_s, progress)
    except BaseException:
        down(spec.name, grace_s=15.0)
        raise
    state.ready = True
    save_state(state)
    return state, True


def down(name: str | None = None, grace_s: float = 30.0) -> dict:
    """Stop the processes `up` recorded for cluster `name` (workers first), drop its state.

    Returns a report: which pids exited on SIGTERM, which needed SIGKILL, which survived.
    """
    name = resolve_cluster_name(name)
    state = load_state(name)
    if state is None:
        return {"cluster": name, "was_up": False, "terminated": [], "killed": [], "left": []}
    workers = [node for node in state.nodes if node.role == "worker"]
    heads = [node for node in state.nodes if node.role == "head"]
    terminated: list[int] = []
    killed: list[int] = []
    left: list[int] = []
    for group in (workers, heads):
        trees = [processes.owned_tree(node.pid, node.create_time) for node in group]
        group_terminated, group_killed = processes.stop_trees(trees, grace_s)
        terminated += group_terminated
        killed += group_killed
    for node in state.nodes:
        left += processes.live_pids(processes.owned_tree(node.pid, node.create_time))
    if not left:
        remove_state(name)
    return {
        "cluster": name,
        "was_up": True,
        "recorded_pids": [node.pid for node in state.nodes if node.pid is not None],
        "terminated": sorted(terminated),
        "killed": killed,
        "left": sorted(set(left)),
    }
