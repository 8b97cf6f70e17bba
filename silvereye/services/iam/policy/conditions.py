"""Condition operators: compiled from a policy's Condition block, evaluated per request.

AWS's rules (IAM User Guide, "Condition operators" and "Conditions with
multiple context keys or values"), which this module follows exactly:

* Several operators in a block, and several keys under one operator, are
  ANDed; several values for one key are ORed; for a negated operator
  (StringNotEquals, NotIpAddress, ArnNotLike...) they are NORed, so a
  negated operator is the negation of its positive form.
* A key absent from the request fails the condition, except: a negated
  operator then holds; ``...IfExists`` then holds; ``ForAllValues:`` then
  holds; ``ForAnyValue:`` then fails; ``Null`` tests presence itself.
* ``ForAllValues:`` holds when every request value passes (an empty set
  passes); ``ForAnyValue:`` when at least one does. With a negated operator
  a request value passes when it matches none of the policy values.
* Condition keys are case-insensitive; the context is looked up lower-cased.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from silvereye.services.iam.policy.dates import context_epoch, iso_utc, parse_policy_date
from silvereye.services.iam.policy.patterns import (
    Lookup,
    PatternSet,
    Token,
    has_variables,
    literal_text,
    resolve,
    tokenize,
)

# base operator -> (comparison, negated)
OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("string", False),
    "StringNotEquals": ("string", True),
    "StringEqualsIgnoreCase": ("string-ic", False),
    "StringNotEqualsIgnoreCase": ("string-ic", True),
    "StringLike": ("like", False),
    "StringNotLike": ("like", True),
    "NumericEquals": ("num:eq", False),
    "NumericNotEquals": ("num:eq", True),
    "NumericLessThan": ("num:lt", False),
    "NumericLessThanEquals": ("num:le", False),
    "NumericGreaterThan": ("num:gt", False),
    "NumericGreaterThanEquals": ("num:ge", False),
    "DateEquals": ("date:eq", False),
    "DateNotEquals": ("date:eq", True),
    "DateLessThan": ("date:lt", False),
    "DateLessThanEquals": ("date:le", False),
    "DateGreaterThan": ("date:gt", False),
    "DateGreaterThanEquals": ("date:ge", False),
    "Bool": ("bool", False),
    "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False),
    "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False),
    "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True),
    "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

_QUALIFIERS = {"ForAllValues:": "all", "ForAnyValue:": "any"}


@dataclass(frozen=True, slots=True)
class OperatorName:
    base: str
    qualifier: str | None  # 'all' | 'any' | None
    if_exists: bool


def parse_operator(name: str) -> OperatorName | None:
    """Split 'ForAnyValue:StringLikeIfExists' into its parts; None for an unknown operator."""
    qualifier = None
    for prefix, q in _QUALIFIERS.items():
        if name.startswith(prefix):
            name, qualifier = name[len(prefix) :], q
            break
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    if name not in OPERATORS or (if_exists and name == "Null"):
        return None
    return OperatorName(name, qualifier, if_exists)


def condition_value_text(value: Any) -> str:
    """A JSON condition value as IAM reads it: booleans as 'true'/'false', numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def context_text(value: Any) -> str:
    """A request-context value as the text string operators and policy variables see."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _binary(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


@functools.lru_cache(maxsize=1024)
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request address; an IPv4-mapped IPv6 address (a dual-stack listener's view) as IPv4."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


class Clause:
    """One (operator, key, values) triple of a Condition block."""

    __slots__ = ("key", "comparison", "negated", "qualifier", "if_exists", "_match")

    def __init__(self, op: OperatorName, key: str, values: list[str], *, variables: bool):
        self.key = key.lower()
        self.comparison, self.negated = OPERATORS[op.base]
        self.qualifier = op.qualifier
        self.if_exists = op.if_exists
        self._match = self._compile(values, variables)

    # -- compilation: one predicate "does this request value match any policy value?"
    def _compile(self, values: list[str], variables: bool) -> Callable[[Any, Lookup], bool]:
        kind = self.comparison
        if kind in ("string", "string-ic"):
            return _string_matcher(values, variables, ignore_case=kind == "string-ic")
        if kind in ("like", "arn"):
            patterns = PatternSet((tokenize(v, wildcards=True, variables=variables) for v in values), kind)
            return lambda v, lookup: patterns.matches(context_text(v), lookup, strict=True)
        if kind.startswith("num:"):
            compare = _COMPARE[kind[4:]]
            numbers = [n for n in map(_number, values) if n is not None]
            return lambda v, lookup: (n := _number(v)) is not None and any(compare(n, x) for x in numbers)
        if kind.startswith("date:"):
            compare = _COMPARE[kind[5:]]
            dates = []
            for text in values:
                try:
                    dates.append(parse_policy_date(text))
                except ValueError:
                    continue
            return lambda v, lookup: (t := context_epoch(v)) is not None and any(compare(t, x) for x in dates)
        if kind == "bool":
            wanted = {v.strip().lower() for v in values}
            return lambda v, lookup: context_text(v).lower() in wanted
        if kind == "binary":
            blobs = {b for b in map(_binary, values) if b is not None}
            return lambda v, lookup: _binary(v) in blobs
        if kind == "ip":
            networks = [n for n in map(_network, values) if n is not None]
            return lambda v, lookup: (a := _ip(context_text(v))) is not None and any(
                a.version == n.version and a in n for n in networks
            )
        if kind == "null":
            absent_wanted = {v.strip().lower() == "true" for v in values}
            return lambda absent, lookup: absent in absent_wanted
        raise AssertionError(f"unhandled comparison {kind}")  # pragma: no cover

    # -- evaluation
    def holds(self, context: Mapping[str, Any], lookup: Lookup) -> bool:
        raw = context.get(self.key)
        if self.comparison == "null":
            absent = raw is None or (isinstance(raw, (list, tuple, set, frozenset)) and not raw)
            return self._match(absent, lookup)
        if raw is None:
            if self.if_exists or self.qualifier == "all":
                return True
            if self.qualifier == "any":
                return False
            return self.negated
        values = raw if isinstance(raw, (list, tuple, set, frozenset)) else (raw,)
        match = self._match
        if self.qualifier is None:
            hit = any(match(v, lookup) for v in values)
            return not hit if self.negated else hit
        negated = self.negated
        if self.qualifier == "all":
            return all(match(v, lookup) != negated for v in values)
        return any(match(v, lookup) != negated for v in values)


def _string_matcher(values: list[str], variables: bool, *, ignore_case: bool) -> Callable[[Any, Lookup], bool]:
    fold: Callable[[str], str] = str.casefold if ignore_case else str
    static: set[str] = set()
    templates: list[tuple[Token, ...]] = []
    for text in values:
        tokens = tokenize(text, wildcards=False, variables=variables)
        if has_variables(tokens):
            templates.append(tokens)
        else:
            static.add(fold(literal_text(tokens)))
    frozen = frozenset(static)
    if not templates:
        return lambda v, lookup: fold(context_text(v)) in frozen

    def match(v: Any, lookup: Lookup) -> bool:
        text = fold(context_text(v))
        if text in frozen:
            return True
        # An unresolvable variable raises Unresolved: the statement does not apply.
        return any(fold(literal_text(resolve(t, lookup))) == text for t in templates)

    return match


def compile_block(block: Mapping[str, Mapping[str, list[str]]], *, variables: bool) -> tuple[Clause, ...]:
    """A validated Condition block (values already lists of strings) as clauses, cheapest first."""
    clauses = []
    for op_name, keys in block.items():
        op = parse_operator(op_name)
        if op is None:
            continue  # an unknown operator with an empty block: IAM accepts and ignores it
        for key, values in keys.items():
            clauses.append(Clause(op, key, values, variables=variables))
    return tuple(clauses)


def conditions_hold(clauses: tuple[Clause, ...], context: Mapping[str, Any], lookup: Lookup) -> bool:
    for clause in clauses:
        if not clause.holds(context, lookup):
            return False
    return True
