"""The weight hashes of a live cascade's members, for GET /v1/cascade.

An edge client compares them with the hashes of the models it loaded itself and refuses to
answer locally when any differ: same names with other weights would give other answers.
Colocated members are read in-process; deployed ones are asked once through their handle.
"""

from __future__ import annotations

import asyncio
import logging

from cost_model.record import member_key

logger = logging.getLogger("ray.serve")


async def member_weights(config, local_members: dict, handles: dict) -> dict[str, str]:
    """'<tier>/<member>' -> sha256 of its loaded weights (members that answered)."""
    keys, pending = [], []
    weights: dict[str, str] = {}
    for tier in config.tiers:
        for member in tier.members:
            name, key = config.deployment_name(tier, member), member_key(tier.name,
                                                                          member.member_name)
            if name in local_members:
                weights[key] = local_members[name]._loaded.weights_sha
            elif name in handles:
                keys.append(key)
                pending.append(handles[name].info.remote())
    answers = await asyncio.gather(*pending, return_exceptions=True)
    for key, answer in zip(keys, answers, strict=True):
        if isinstance(answer, BaseException):
            logger.warning("no weight hash from member %s: %s", key, answer)
            continue
        if answer.get("weights_sha"):
            weights[key] = answer["weights_sha"]
    return weights
