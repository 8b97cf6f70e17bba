"""Input validation against the operation's input shape, and the errors services answer.

Parsing turns the wire into typed params; this layer, run by
:meth:`RequestParser.parse` after parsing, checks what the model states about
them: required members, types, enum values, string/blob lengths, list and map
sizes, numeric ranges and regular-expression patterns. It collects every
violation first, then an :class:`ErrorStyle` turns them into the one error
the real service sends, because services disagree:

* Coral-based services (IAM, STS, ELB, AutoScaling, CloudFormation over
  Query; JSON/CBOR services) answer ``ValidationError`` (Query) or
  ``ValidationException`` (JSON) with "N validation error(s) detected: Value
  'x' at 'roleName' failed to satisfy constraint: Member must have length
  less than or equal to 64" -- the exact form AWS sends, e.g.
  https://github.com/NixOS/nixops/issues/328 (IAM) and
  https://github.com/awslabs/aws-config-rules/issues/101 (JSON). A JSON body
  that is not JSON, or a value of the wrong JSON type, is a
  ``SerializationException`` (Coral's deserializer error).
* Services whose model declares an error with code ``MissingParameter``
  (CloudWatch) report missing members with it: "The parameter Namespace is
  required." (https://github.com/JuliaCloud/AWSSDK.jl/issues/2), one line per
  member. With ``awsQueryCompatible`` the code used for the other
  violations is the query code of the model's ``ValidationException``
  (``ValidationError`` for CloudWatch), so JSON and Query clients see the same code.
* EC2 answers ``MissingParameter`` ("The request must contain the parameter
  ImageId") and ``InvalidParameterValue`` (EC2 API reference, "Error codes").
* S3 answers ``InvalidArgument`` (with ArgumentName/ArgumentValue) for a bad
  header or query value, ``MalformedXML`` for a body that is not XML or
  does not match the schema, ``MissingRequestBodyError`` for a required body
  that is absent (S3 API reference, "Error responses"). Enum values are left
  to the handlers: S3 has a code per enum (InvalidStorageClass, ...).

Patterns in botocore models are Java regular expressions (``\\p{L}``,
surrogate-pair ranges); they are compiled with the ``regex`` module after
turning surrogate pairs into code points.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

import regex

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import BodyStream

_ABSENT = object()
_SURROGATE_PAIR = re.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One step of a path into the params: a member, a list index (1-based) or a map key."""

    name: str
    shape: Any = None  # the member's shape, for members
    kind: str = "member"  # 'member' | 'index' | 'key'


@dataclass(frozen=True)
class Violation:
    path: tuple[Step, ...]
    kind: str  # 'missing' | 'type' | 'enum' | 'length' | 'range' | 'pattern'
    constraint: str  # Coral's wording: "Member must not be null", ...
    value: Any = _ABSENT
    sensitive: bool = False


# -- rendering paths ---------------------------------------------------------


def render_path(path: tuple[Step, ...], member_name, index: str) -> str:
    """Join a path's steps: members through ``member_name(step)``, list indexes through ``index``."""
    parts = []
    for step in path:
        if step.kind == "member":
            parts.append(member_name(step))
        elif step.kind == "index":
            parts.append(index.format(step.name))
        else:
            parts.append(step.name)
    return ".".join(parts)


def coral_path(path: tuple[Step, ...]) -> str:
    """'tags.1.member.key': how Coral names a member in validation messages."""
    return render_path(path, lambda step: step.name[:1].lower() + step.name[1:], "{}.member")


def query_path(path: tuple[Step, ...]) -> str:
    """'MetricData.member.1.MetricName': the member as a Query client names it."""
    return render_path(path, lambda step: step.shape.serialization.get("name", step.name), "member.{}")


def ec2_path(path: tuple[Step, ...]) -> str:
    """'Filter.1.Name': the member as an EC2 client names it (queryName, capitalised locationName)."""
    return render_path(path, lambda step: ec2_query_name(step.shape, step.name), "{}")


def ec2_query_name(shape, member_name: str) -> str:
    if "queryName" in shape.serialization:
        return shape.serialization["queryName"]
    name = shape.serialization.get("name")
    if name:
        return name[0].upper() + name[1:]
    return member_name


def _render_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render_value(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render_value(v)}" for k, v in value.items()) + "}"
    return str(value)


# -- error styles ------------------------------------------------------------


class ErrorStyle:
    """How one service reports bad input. Subclasses decide codes and messages."""

    # Whether values outside a string enum are refused here (else the handler decides).
    enforce_enums = True

    def error(self, violations: list[Violation]) -> ServiceError:
        raise NotImplementedError

    def malformed(self, path: tuple[Step, ...], value, expected: str, location: str = "body") -> ServiceError:
        """A value that cannot be read as its shape's type (parse time)."""
        return self.error([Violation(path, "type", f"Member must be {expected}", value)])

    def malformed_body(self, detail: str) -> ServiceError:
        """A body that is not in the protocol's format at all."""
        return ServiceError("SerializationException", detail, 400)


class CoralStyle(ErrorStyle):
    """ValidationError / ValidationException with Coral's message, as most AWS services send it."""

    def __init__(self, code: str, *, missing_code: str | None = None, serialization_code: str | None = None):
        self.code = code
        self.missing_code = missing_code
        self.serialization_code = serialization_code

    @classmethod
    def for_model(cls, service_model, default_code: str, *, serialization_code: str | None = None) -> "CoralStyle":
        """The style a service model implies: its own ValidationException / MissingParameter codes."""
        codes = {shape.error_code: shape for shape in service_model.error_shapes}
        named = {shape.name: shape for shape in service_model.error_shapes}
        code = default_code
        if "ValidationException" in named and "awsQueryCompatible" in service_model.metadata:
            code = named["ValidationException"].error_code
        missing = "MissingParameter" if "MissingParameter" in codes else None
        return cls(code, missing_code=missing, serialization_code=serialization_code)

    def error(self, violations: list[Violation]) -> ServiceError:
        missing = [v for v in violations if v.kind == "missing"]
        if self.missing_code and missing:
            lines = [f"The parameter {query_path(v.path)} is required." for v in missing]
            return ServiceError(self.missing_code, "\n".join(lines), 400)
        parts = []
        for v in violations:
            where = coral_path(v.path)
            if v.kind == "missing":
                parts.append(f"Value null at '{where}' failed to satisfy constraint: {v.constraint}")
            elif v.sensitive or v.value is _ABSENT:
                parts.append(f"Value at '{where}' failed to satisfy constraint: {v.constraint}")
            else:
                parts.append(f"Value '{_render_value(v.value)}' at '{where}' failed to satisfy constraint: {v.constraint}")
        noun = "validation error" if len(parts) == 1 else "validation errors"
        return ServiceError(self.code, f"{len(parts)} {noun} detected: " + "; ".join(parts), 400)

    def malformed(self, path, value, expected, location="body"):
        if self.serialization_code:
            where = coral_path(path) or "request"
            return ServiceError(self.serialization_code, f"Value for '{where}' cannot be read as {expected}", 400)
        return super().malformed(path, value, expected, location)

    def malformed_body(self, detail: str) -> ServiceError:
        return ServiceError(self.serialization_code or self.code, detail, 400)


class EC2Style(ErrorStyle):
    def error(self, violations: list[Violation]) -> ServiceError:
        first = violations[0]
        name = ec2_path(first.path)
        if first.kind == "missing":
            return ServiceError("MissingParameter", f"The request must contain the parameter {name}", 400)
        shown = "" if first.sensitive or first.value is _ABSENT else _render_value(first.value)
        detail = first.constraint.replace("Member must", "It must", 1)
        return ServiceError("InvalidParameterValue", f"Value ({shown}) for parameter {name} is invalid. {detail}", 400)

    def malformed_body(self, detail: str) -> ServiceError:
        return ServiceError("InvalidParameterValue", detail, 400)


class S3Style(ErrorStyle):
    # S3 answers each bad enum value with its own code (InvalidStorageClass,
    # InvalidLocationConstraint, ...), which the handlers know; and the model's
    # enums list AWS's regions, not the names a silvereye cloud gives its own.
    enforce_enums = False
    MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"

    def error(self, violations: list[Violation]) -> ServiceError:
        first = violations[0]
        top = first.path[0] if first.path else None
        location = top.shape.serialization.get("location") if top is not None and top.shape is not None else None
        if location is None:  # the body
            if first.kind == "missing" and len(first.path) == 1:
                return ServiceError("MissingRequestBodyError", "Request Body is empty", 400)
            return ServiceError("MalformedXML", self.MALFORMED_XML, 400)
        wire = top.shape.serialization.get("name", top.name)
        if first.kind == "missing":
            return ServiceError("InvalidRequest", f"Missing required header for this request: {wire}", 400)
        value = "" if first.value is _ABSENT or first.sensitive else _render_value(first.value)
        return ServiceError(
            "InvalidArgument", f"Invalid argument: {wire}. {first.constraint}", 400, ArgumentName=wire, ArgumentValue=value
        )

    def malformed(self, path, value, expected, location="body"):
        if location == "body":
            return ServiceError("MalformedXML", self.MALFORMED_XML, 400)
        top = path[0] if path else None
        wire = top.shape.serialization.get("name", top.name) if top is not None and top.shape is not None else ""
        return ServiceError(
            "InvalidArgument", f"Invalid argument: {wire} must be {expected}", 400,
            ArgumentName=wire, ArgumentValue=_render_value(value),
        )

    def malformed_body(self, detail: str) -> ServiceError:
        return ServiceError("MalformedXML", self.MALFORMED_XML, 400)


# -- the validator -------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def compiled_pattern(pattern: str):
    """A model pattern compiled for full matches (Java syntax, surrogate pairs as code points)."""

    def code_point(m: re.Match) -> str:
        high, low = int(m.group(1), 16), int(m.group(2), 16)
        return "\\U%08X" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    return regex.compile(_SURROGATE_PAIR.sub(code_point, pattern))


_TYPE_CHECKS = {
    "string": (str,),
    "character": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray, BodyStream),
    "timestamp": (dt.datetime,),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}


class InputValidator:
    """Checks params against a shape and raises the style's error for everything wrong."""

    def __init__(self, style: ErrorStyle):
        self.style = style

    def validate(self, shape, params) -> None:
        if shape is None:
            return
        violations: list[Violation] = []
        self._check(shape, params, (), violations)
        if violations:
            raise self.style.error(violations)

    def _check(self, shape, value, path, out: list[Violation]) -> None:
        if shape.type_name == "structure" and shape.is_document_type:
            return
        if shape.serialization.get("jsonvalue"):
            return  # any JSON value, carried in a string-typed member
        expected = _TYPE_CHECKS.get(shape.type_name)
        if expected is None:
            raise TypeError(f"validation: unhandled shape type {shape.type_name!r} ({shape.name})")
        numeric = shape.type_name in ("integer", "long", "float", "double")
        if not isinstance(value, expected) or (numeric and isinstance(value, bool)):
            out.append(Violation(path, "type", f"Member must be of type {shape.type_name}", value))
            return
        getattr(self, f"_check_{shape.type_name}", self._check_scalar)(shape, value, path, out)

    def _check_structure(self, shape, value: dict, path, out) -> None:
        for name in shape.required_members:
            if value.get(name) is None:
                member = shape.members.get(name)
                out.append(Violation(path + (Step(name, member),), "missing", "Member must not be null"))
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None or item is None:
                continue
            self._check(member, item, path + (Step(name, member),), out)

    def _check_list(self, shape, value: list, path, out) -> None:
        self._check_size(shape, value, path, out)
        for i, item in enumerate(value, 1):
            if item is not None:
                self._check(shape.member, item, path + (Step(str(i), None, "index"),), out)

    def _check_map(self, shape, value: dict, path, out) -> None:
        self._check_size(shape, value, path, out)
        for key, item in value.items():
            step = path + (Step(str(key), None, "key"),)
            self._check(shape.key, key, step, out)
            if item is not None:
                self._check(shape.value, item, step, out)

    def _check_string(self, shape, value: str, path, out) -> None:
        sensitive = bool(shape.metadata.get("sensitive"))
        enum = shape.enum
        if enum and value not in enum and self.style.enforce_enums:
            out.append(Violation(path, "enum", f"Member must satisfy enum value set: [{', '.join(enum)}]", value, sensitive))
            return
        self._check_size(shape, value, path, out)
        pattern = shape.metadata.get("pattern")
        if pattern and not compiled_pattern(pattern).fullmatch(value):
            out.append(Violation(path, "pattern", f"Member must satisfy regular expression pattern: {pattern}", value, sensitive))

    def _check_blob(self, shape, value, path, out) -> None:
        if not isinstance(value, BodyStream):
            self._check_size(shape, value, path, out)

    def _check_integer(self, shape, value, path, out) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            out.append(Violation(path, "range", f"Member must have value greater than or equal to {low}", value))
        elif high is not None and value > high:
            out.append(Violation(path, "range", f"Member must have value less than or equal to {high}", value))

    _check_long = _check_float = _check_double = _check_integer

    def _check_scalar(self, shape, value, path, out) -> None:
        return None  # booleans and timestamps carry no constraints in the models

    def _check_size(self, shape, value, path, out) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        size = len(value)
        sensitive = bool(shape.metadata.get("sensitive"))
        shown = value if isinstance(value, str) else _ABSENT
        if low is not None and size < low:
            out.append(Violation(path, "length", f"Member must have length greater than or equal to {low}", shown, sensitive))
        elif high is not None and size > high:
            out.append(Violation(path, "length", f"Member must have length less than or equal to {high}", shown, sensitive))
