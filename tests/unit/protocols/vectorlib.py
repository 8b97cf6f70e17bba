"""Loading botocore's protocol vectors and comparing values the way the wire allows.

A vector file holds suites (a model fragment plus cases). Each case becomes a
:class:`Case` with a stable id: the vector's own ``id``, or for the older
``legacy/`` files (which have none) ``legacy-<protocol>:<suite>:<case>``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

from botocore.model import ServiceModel
from botocore.utils import parse_timestamp

OUR_PROTOCOLS = ("query", "ec2", "rest-xml", "json", "smithy-rpc-v2-cbor")


@dataclass
class Case:
    id: str
    kind: str  # 'input' | 'output'
    protocol: str
    file: str
    suite: dict  # the suite without its cases
    case: dict

    def model(self) -> ServiceModel:
        description = copy.deepcopy(self.suite)
        description["operations"] = {self.operation_name: copy.deepcopy(self.case["given"])}
        description.setdefault("metadata", {}).setdefault("apiVersion", "2014-01-01")
        return ServiceModel(description, service_name="vectorservice")

    @property
    def operation_name(self) -> str:
        return self.case.get("given", {}).get("name", "OperationName")

    def __repr__(self) -> str:
        return f"Case({self.id})"


def load_cases(root: Path, kind: str) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(list((root / kind).glob("*.json")) + list((root / "legacy" / kind).glob("*.json"))):
        legacy = "legacy" in path.parts
        for s, suite in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            protocol = suite["metadata"]["protocol"]
            if protocol not in OUR_PROTOCOLS:
                continue
            body = {k: v for k, v in suite.items() if k != "cases"}
            for c, case in enumerate(suite["cases"]):
                if kind == "input" and "params" not in case or kind == "output" and "response" not in case:
                    continue
                case_id = case.get("id") or f"{'legacy-' if legacy else ''}{path.stem}:{s}:{c}"
                cases.append(Case(case_id, kind, protocol, str(path.relative_to(root)), body, case))
    return cases


# -- canonical forms, so "what the client meant" compares equal to "what we parsed" --


def canonical(shape, value):
    """Timestamps as epoch floats, blobs as bytes, special floats as their names."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        # None means "not sent" to every SDK: the member is simply absent.
        return {k: canonical(shape.members.get(k), v) for k, v in value.items() if v is not None}
    if kind == "list":
        return [canonical(shape.member, v) for v in value]
    if kind == "map":
        return {k: canonical(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        return parse_timestamp(value).timestamp()
    if kind == "blob":
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if kind in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return value


def special_floats_to_numbers(params: dict) -> dict:
    """Vectors spell NaN/Infinity as strings at the top level; the SDK takes floats."""
    names = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    return {k: names.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


def bytes_to_str(value):
    if isinstance(value, dict):
        return {k: bytes_to_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [bytes_to_str(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
