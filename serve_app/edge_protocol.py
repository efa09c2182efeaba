"""The edge protocol: what an edge client and the server agree on, checked on both sides.

An edge client runs the cascade's first tier(s) itself and sends only undecided images,
asking the server to start at the next tier (`X-Coe-Start-Tier: k`, 1 <= k <= last) and,
optionally, giving the edge tiers' votes (`X-Coe-Edge-Votes`) so the answer's trace is
whole. Both sides must run the same models and the same policies: `GET /v1/cascade`
publishes the weight hashes and a policy version, which the client checks before it
answers anything locally. No Ray here: the client imports this module too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import numpy as np
from pydantic import Field, TypeAdapter, ValidationError

from cascade.config import CascadeConfig
from cascade.policies import decide_tier
from serve_app.decode import InputError
from serve_app.runner import ImageOutcome, TierTrace
from serve_app.schemas import LiveCascade

START_TIER_HEADER = "X-Coe-Start-Tier"
EDGE_VOTES_HEADER = "X-Coe-Edge-Votes"
MAX_VOTES_HEADER_CHARS = 16 * 1024

# One entry per image: tier name -> member name -> label (index or class name).
_VOTES = TypeAdapter(list[dict[str, dict[str, int | str]]])


class CascadeDescription(LiveCascade):
    """Body of GET /v1/cascade: the live config and its store version (LiveCascade), plus
    what an edge client must match."""

    policy_fingerprint: str = Field(
        description="sha256 (16 hex) of every tier's members, exit policy and combine rule; "
        "changes when an admin changes a threshold"
    )
    weights_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="'<tier>/<member>' -> sha256 of the member's loaded weights "
        "(zoo.hashing.state_sha256); an edge client refuses to run on a mismatch",
    )


def policy_fingerprint(config: CascadeConfig) -> str:
    """A short fingerprint of the decision rules: tiers, members, exit policies, combine."""
    rules = [
        {
            "tier": tier.name,
            "members": [m.member_name for m in tier.members],
            "models": [m.model for m in tier.members],
            "policy": tier.exit_policy.kind,
            "threshold": tier.exit_policy.threshold,
            "combine": tier.combine,
        }
        for tier in config.tiers
    ]
    text = json.dumps({"num_classes": config.num_classes, "tiers": rules}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(
    config: CascadeConfig, weights: Mapping[str, str], catalog: str | None = None,
    *, policy_version: int = 1, policy_source: str = "config", replica: str | None = None,
) -> CascadeDescription:
    """The GET /v1/cascade body of a live `config` with its members' weight hashes."""
    data = config.model_dump(mode="json")
    data.update(policy_fingerprint=policy_fingerprint(config), weights_sha256=dict(weights),
                policy_version=policy_version, policy_source=policy_source, replica=replica)
    return CascadeDescription.model_validate(
        data, context={"check_models": False, "catalog": catalog}
    )


def parse_start_tier(raw: str | None, config: CascadeConfig) -> int:
    """The request's start tier: 0 without the header, else 1..last (422 otherwise)."""
    if raw is None:
        return 0
    last = len(config.tiers) - 1
    text = raw.strip()
    value = int(text) if text.lstrip("+").isdigit() else None
    if value is None or not 1 <= value <= last:
        allowed = f"an integer from 1 to {last}" if last >= 1 else "absent (one-tier cascade)"
        raise InputError(
            "bad_start_tier", f"header {START_TIER_HEADER}: {raw[:40]!r} must be {allowed}",
            status=422,
        )
    return value


def _label_index(value: int | str, config: CascadeConfig, where: str) -> int:
    names = config.class_names or []
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < config.num_classes:
        return value
    known = f"0..{config.num_classes - 1}" + (" or a class name" if names else "")
    raise InputError("bad_edge_votes", f"{where}: unknown label {value!r}; expected {known}", 422)


def parse_edge_votes(
    raw: str | None, config: CascadeConfig, start_tier: int, n_images: int
) -> list[list[TierTrace]] | None:
    """The edge tiers' traces per image from the votes header, validated (422 if not).

    Shape: a JSON list with one object per image, each naming exactly the tiers before
    `start_tier`, each of those naming exactly that tier's members. Votes that meet an
    agreement tier's exit policy are refused too: such an image should have left at the
    edge, so client and server disagree about the policy.
    """
    if raw is None:
        return None
    if start_tier == 0:
        raise InputError(
            "bad_edge_votes", f"header {EDGE_VOTES_HEADER} needs {START_TIER_HEADER}", 422
        )
    if len(raw) > MAX_VOTES_HEADER_CHARS:
        raise InputError("bad_edge_votes", f"header {EDGE_VOTES_HEADER}: too long", 422)
    try:
        entries = _VOTES.validate_json(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        message = f"header {EDGE_VOTES_HEADER}{'.' + loc if loc else ''}: {first.get('msg')}"
        raise InputError("bad_edge_votes", message, 422) from None
    if len(entries) != n_images:
        raise InputError(
            "bad_edge_votes",
            f"header {EDGE_VOTES_HEADER}: {len(entries)} entries for {n_images} image(s)", 422,
        )
    return [_image_traces(entry, config, start_tier, i) for i, entry in enumerate(entries)]


def _image_traces(entry: dict, config: CascadeConfig, start_tier: int, i: int) -> list[TierTrace]:
    expected = [t.name for t in config.tiers[:start_tier]]
    if sorted(entry) != sorted(expected):
        raise InputError(
            "bad_edge_votes",
            f"{EDGE_VOTES_HEADER}[{i}]: tiers {sorted(entry)} given, expected {expected}", 422,
        )
    traces = []
    for index, tier in enumerate(config.tiers[:start_tier]):
        members = [m.member_name for m in tier.members]
        given = entry[tier.name]
        if sorted(given) != sorted(members):
            raise InputError(
                "bad_edge_votes",
                f"{EDGE_VOTES_HEADER}[{i}].{tier.name}: members {sorted(given)} given, "
                f"expected {members}", 422,
            )
        votes = {
            m: _label_index(given[m], config, f"{EDGE_VOTES_HEADER}[{i}].{tier.name}.{m}")
            for m in members
        }
        traces.append(_vote_trace(tier, index, votes, config.num_classes, i))
    return traces


def _vote_trace(tier, index: int, votes: dict[str, int], num_classes: int, i: int) -> TierTrace:
    """An edge tier's trace from votes alone (one-hot rows through the shared policy)."""
    one_hot = np.zeros((len(votes), 1, num_classes))
    for m, label in enumerate(votes.values()):
        one_hot[m, 0, label] = 1.0
    decision = decide_tier(one_hot, "agreement", 1.0, "vote")
    agreement = float(decision.agreement[0])
    policy = tier.exit_policy
    if policy.kind == "agreement" and agreement >= policy.threshold - 1e-12:
        raise InputError(
            "bad_edge_votes",
            f"{EDGE_VOTES_HEADER}[{i}].{tier.name}: votes agree {agreement:.2f} >= the exit "
            f"threshold {policy.threshold:g}; that image exits at the edge (policy mismatch?)",
            422,
        )
    return TierTrace(
        tier=tier.name, index=index, votes=dict(votes), label=int(decision.labels[0]),
        confidence=None, agreement=agreement, decision="escalate", policy_met=False,
        site="edge",
    )


def attach_edge_traces(
    outcomes: list[ImageOutcome], traces: list[list[TierTrace]] | None
) -> None:
    """Put the edge tiers' traces in front of the cloud tiers' (whole trace per answer)."""
    if traces is None:
        return
    for outcome, edge in zip(outcomes, traces, strict=True):
        outcome.tiers[:0] = edge
