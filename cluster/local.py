"""Start, reach and stop a real multi-node Ray cluster on this machine from a ClusterSpec.

Every node is its own `ray start --block` process (head first, then one per pool node),
started in a new session: that process owns the node's GCS/raylet/agents/workers and shuts
them down on SIGTERM, so `down` stops exactly our trees by PID and never runs `ray stop`
(which would kill every other Ray on the machine). Pool nodes join one at a time, and
each `ray start` writes to its own log file, so a terminal sees only what `up` reports.
What each node runs is planned in cluster/node_plan.py; this module launches, waits, stops.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from cluster import auth, processes, quiet
from cluster.node_plan import node_env, plan_nodes, required_ports
from cluster.spec import ClusterSpec, load_cluster_spec
from cluster.state import (
    ClusterState,
    NodeState,
    load_state,
    remove_state,
    resolve_cluster_name,
    save_state,
    state_dir,
)
from cost_model.catalog import GPUCatalog

NAMESPACE = "coe"
# Written into the temp dir by `ray start` once the node is fully up (ray._common.utils).
RAY_ADDRESS_FILE = "ray_current_cluster"
WORKER_START_ATTEMPTS = 5  # ray start gives up after 30 s when the machine is overloaded
TAIL_LINES = 15
# Starts each attempt's section of a node log (the `ray start` argv follows).
ATTEMPT_MARKER = "--- coe: "
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


def token_path_for(name: str) -> Path:
    return state_dir() / f"{name}.token"


def log_dir_for(name: str) -> Path:
    """Where `up` writes each node's `ray start` output and its own driver's output."""
    return state_dir() / f"{name}-logs"


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
    return [
        f"{label} ({port})" for label, port in required_ports(spec, nodes) if not _port_free(port)
    ]


def _tail(path: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines the latest attempt wrote to node log `path`, indented."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    starts = [i for i, line in enumerate(text) if line.startswith(ATTEMPT_MARKER)]
    latest = text[starts[-1] + 1 :] if starts else text
    return "\n".join(f"    {line}" for line in latest[-lines:]) or "    (no output)"


def _node_failure(node: NodeState, what: str, temp_dir: str) -> ClusterStartError:
    """An error naming the node, its `ray start` log and that log's last lines."""
    return ClusterStartError(
        f"{node.name} {what}\n  log: {node.log_path}\n"
        f"  Ray's own logs: {temp_dir}/session_latest/logs\n"
        f"  last lines of its latest attempt:\n{_tail(node.log_path)}"
    )


def _start_node(node: NodeState, env: dict[str, str], attempt: int = 1) -> subprocess.Popen:
    """Launch the node's `ray start`, its stdout and stderr appended to its own log file."""
    Path(node.log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(node.log_path, "ab") as log:
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        header = f"{ATTEMPT_MARKER}{stamp} attempt {attempt}: {shlex.join(node.argv)}\n"
        log.write(header.encode())
        log.flush()
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


def _restart_gave_up(
    state: ClusterState, node: NodeState, started: dict[str, subprocess.Popen],
    env: dict[str, str], attempt: int, doing: str,
) -> int:
    """A `ray start` that gave up (Ray waits a fixed 30 s for its raylet to register, too
    short on an overloaded machine): clear what it left and start it again; the next
    attempt number. After WORKER_START_ATTEMPTS attempts it is an error."""
    code = started[node.name].returncode
    if attempt >= WORKER_START_ATTEMPTS:
        raise _node_failure(
            node, f"exited with code {code} while {doing} ({attempt} attempts)", state.temp_dir
        )
    leftovers = processes.owned_tree(node.pid, node.create_time)
    processes.stop_trees([leftovers], grace_s=5.0)
    started[node.name] = _start_node(node, env, attempt + 1)
    save_state(state)
    return attempt + 1


def _start_head(
    state: ClusterState, started: dict[str, subprocess.Popen], env: dict[str, str],
    timeout_s: float,
) -> None:
    """Start the head and wait until it finished starting: `ray start` writes the address
    file only then.

    An open GCS port is not enough: workers that join before the head registered itself
    fail with "Failed to get node info: Deadline Exceeded" on a busy machine. A `ray start`
    that gives up (its raylet did not register within Ray's fixed 30 s, which happens on an
    overloaded machine) is started again, up to WORKER_START_ATTEMPTS times.
    """
    head = state.nodes[0]
    address_file = Path(state.temp_dir) / RAY_ADDRESS_FILE
    deadline = time.monotonic() + timeout_s
    attempt = 1
    address_file.unlink(missing_ok=True)
    started[head.name] = _start_node(head, env, attempt)
    save_state(state)
    while time.monotonic() < deadline:
        if started[head.name].poll() is not None:
            address_file.unlink(missing_ok=True)
            attempt = _restart_gave_up(state, head, started, env, attempt, "starting")
            continue
        if address_file.is_file() and address_file.read_text().strip():
            return
        time.sleep(0.3)
    raise _node_failure(
        head,
        f"did not finish starting within {timeout_s:.0f}s (no {address_file})",
        state.temp_dir,
    )


def _alive_nodes(ray, names: set[str]) -> dict[str, dict]:
    return {
        info["NodeName"]: info
        for info in ray.nodes()
        if info.get("Alive") and info.get("NodeName") in names
    }


def _join_node(
    ray,
    state: ClusterState,
    node: NodeState,
    started: dict[str, subprocess.Popen],
    env: dict[str, str],
    deadline: float,
) -> dict:
    """Start pool node `node` and wait until the GCS lists it alive; return its node info.

    A `ray start` that gives up while joining (it happens on a loaded machine) is started
    again, up to WORKER_START_ATTEMPTS times. Any other node exiting meanwhile is an error.
    """
    attempt = 1
    started[node.name] = _start_node(node, env, attempt)
    save_state(state)
    while True:
        for other in state.nodes:
            process = started.get(other.name)
            if other is node or process is None or process.poll() is None:
                continue
            raise _node_failure(
                other,
                f"exited with code {process.returncode} while {node.name} joined",
                state.temp_dir,
            )
        if started[node.name].poll() is not None:
            attempt = _restart_gave_up(state, node, started, env, attempt, "joining")
        alive = _alive_nodes(ray, {node.name})
        if node.name in alive:
            return alive[node.name]
        if time.monotonic() >= deadline:
            raise _node_failure(node, "did not join in time", state.temp_dir)
        time.sleep(0.5)


def _join_pool_nodes(
    state: ClusterState,
    started: dict[str, subprocess.Popen],
    env: dict[str, str],
    timeout_s: float,
    progress: bool,
) -> None:
    """Start the pool nodes one at a time, each once the previous one is alive; record ids.

    Never two `ray start` at once: each picks its socket and log names (plasma_store.N,
    raylet.N.out) as the first index unused in the shared session dir, so two starting
    together can pick the same one; the loser's raylet dies with "bind: Address already in
    use", its agents publish "Raylet is terminated. Termination is unexpected" (with the
    head's raylet.out tail) and its `ray start` times out after 30 s.
    """
    auth.apply_to_this_process(state.token_path)
    import ray
    from tqdm import tqdm

    names = {node.name for node in state.nodes}
    deadline = time.monotonic() + timeout_s
    with quiet.stdout_to(log_dir_for(state.name) / "driver.log"):
        ray.init(address=state.address, namespace=NAMESPACE, **quiet.quiet_init_kwargs())
        try:
            bar = tqdm(
                total=len(state.nodes),
                initial=1,
                desc="nodes alive",
                unit="node",
                disable=None if progress else True,  # None: only on a terminal
                file=sys.stderr,
            )
            for node in state.nodes[1:]:
                _join_node(ray, state, node, started, env, deadline)
                bar.update(1)
            bar.close()
            alive = _alive_nodes(ray, names)
        finally:
            ray.shutdown()
    for node in state.nodes:
        node.node_id = alive[node.name]["NodeID"]
    state.node_ip = alive[state.nodes[0].name].get("NodeManagerAddress")


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

    nodes = plan_nodes(spec, catalog, ray=ray_executable(), log_dir=log_dir_for(spec.name))
    busy = busy_ports(spec, nodes)
    if busy:
        shown = ", ".join(busy[:8]) + (f" and {len(busy) - 8} more" if len(busy) > 8 else "")
        raise ClusterStartError(
            f"cannot start cluster {spec.name!r}: ports already in use: {shown}. "
            "Another Ray may be running on them; change head.ports in the spec."
        )

    token = auth.ensure_token(token_path_for(spec.name))
    env = node_env(os.environ, token)
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
        _start_head(state, started, env, timeout_s)
        _join_pool_nodes(state, started, env, timeout_s, progress)
    except BaseException:
        down(spec.name, grace_s=15.0)
        raise
    state.ready = True
    save_state(state)
    return state, True


def _disconnect_driver(state: ClusterState) -> None:
    """Leave the cluster if this process is one of its drivers, before its nodes stop.

    A driver left connected watches its raylet and GCS die under it and prints their
    errors (and may hang at exit waiting for them).
    """
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    try:
        gcs_address = ray.get_runtime_context().gcs_address
    except Exception:  # noqa: BLE001 - a half-initialized driver: leave it alone
        return
    if gcs_address.rsplit(":", 1)[-1] == str(state.spec.head.ports.gcs):
        ray.shutdown()


def down(name: str | None = None, grace_s: float = 30.0) -> dict:
    """Stop the processes `up` recorded for cluster `name` (workers first), drop its state.

    Returns a report: which pids exited on SIGTERM, which needed SIGKILL, which survived.
    """
    name = resolve_cluster_name(name)
    state = load_state(name)
    if state is None:
        return {"cluster": name, "was_up": False, "terminated": [], "killed": [], "left": []}
    _disconnect_driver(state)
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
