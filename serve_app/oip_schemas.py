"""Pydantic models of the Open Inference Protocol (KServe v2 REST) as this server speaks it.

Field names and shapes follow the protocol (kserve.github.io/website "Open Inference
Protocol", REST): tensor data is a flat (row-major) or nested list, `parameters` maps names
to a bool, number or string. The binary-tensor extension moves a tensor's bytes after the
JSON header (`parameters.binary_data_size`); serve_app.oip_codec does that part.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Parameter = bool | int | float | str
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]


class OipError(BaseModel):
    """The protocol's error body: one message string."""

    error: str


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 marks a variable dimension")
    parameters: dict[str, Parameter] | None = None


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Parameter] | None = None


class RequestInput(BaseModel):
    """One input tensor; `data` is absent when its bytes follow in binary form."""

    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Parameter] | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    """An output the client wants; `parameters.classification: k` asks for the top k,
    `parameters.binary_data: true` for binary bytes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: dict[str, Parameter] | None = None


class InferenceRequest(BaseModel):
    """`model_name`/`model_version` are not in the protocol's request body, but the kserve
    client sends them; when present they must match the URL."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    parameters: dict[str, Parameter] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Parameter] | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    """`parameters` carries the cascade's exit tier(s), degraded flag and cost."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Parameter] | None = None
    outputs: list[ResponseOutput]
