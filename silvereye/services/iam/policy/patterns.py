"""Wildcards and policy variables, compiled once when a policy is parsed.

A pattern string from a policy (an Action, a Resource ARN, a StringLike or
ArnLike value) becomes a tuple of tokens: literal text, the two wildcards
``*`` and ``?``, and policy variables ``${key}`` or ``${key, 'default'}``.
``${*}``, ``${?}`` and ``${$}`` are literal characters. Version 2008-10-17
documents predate variables, so their ``${...}`` is plain text.

Patterns without variables (nearly all) are compiled to an exact string or
one regular expression at parse time. Patterns with variables are resolved
per request against the condition context and the resulting regex is cached,
so the same user asking again costs a dictionary lookup.

Three matching modes:

``action``  case-insensitive, ``*`` spans anything (actions have one colon)
``arn``     case-sensitive and segment-aware: in the partition, service,
            region and account segments a wildcard cannot cross a ``:``; in
            the resource part (after the fifth colon, which may itself hold
            ``:`` and ``/``) it spans anything
``like``    case-sensitive, ``*`` spans anything (StringLike)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Union


class _Wildcard:
    __slots__ = ("char",)

    def __init__(self, char: str):
        self.char = char

    def __repr__(self) -> str:
        return f"<wildcard {self.char}>"


STAR = _Wildcard("*")
QMARK = _Wildcard("?")


@dataclass(frozen=True, slots=True)
class Var:
    """A policy variable: the (lower-cased) context key and its optional default."""

    key: str
    default: str | None = None


class Substituted(str):
    """Text a variable resolved to: literal, and its colons never separate ARN segments.

    It hashes apart from equal literal text so that compiled-pattern caches
    keyed on token tuples never confuse the two.
    """

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(("${}", str(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Substituted) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


Token = Union[str, _Wildcard, Var]
Lookup = Callable[[str], "str | None"]


class Unresolved(Exception):
    """A variable whose key is absent from the request (and that has no default)."""


def _parse_variable(body: str) -> Token:
    if body in ("*", "?", "$"):
        return body  # an escaped special character: literal
    name, comma, rest = body.partition(",")
    default = None
    if comma:
        rest = rest.strip()
        if len(rest) >= 2 and rest[0] == "'" and rest[-1] == "'":
            default = rest[1:-1].replace("''", "'")
        else:
            name = body  # not the default syntax: the whole text names the key
    return Var(name.strip().lower(), default)


def tokenize(text: str, *, wildcards: bool, variables: bool) -> tuple[Token, ...]:
    """Split a policy string into literal text, wildcards and variables."""
    tokens: list[Token] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append("".join(literal))
            literal.clear()

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if variables and c == "$" and text.startswith("${", i):
            end = text.find("}", i + 2)
            if end != -1:
                tok = _parse_variable(text[i + 2 : end])
                if isinstance(tok, str):
                    literal.append(tok)
                else:
                    flush()
                    tokens.append(tok)
                i = end + 1
                continue
        if wildcards and c in "*?":
            flush()
            tokens.append(STAR if c == "*" else QMARK)
        else:
            literal.append(c)
        i += 1
    flush()
    return tuple(tokens)


def has_variables(tokens: Iterable[Token]) -> bool:
    return any(isinstance(t, Var) for t in tokens)


def resolve(tokens: tuple[Token, ...], lookup: Lookup) -> tuple[Token, ...]:
    """Replace each variable by its value from the request, or raise :class:`Unresolved`."""
    out: list[Token] = []
    for tok in tokens:
        if isinstance(tok, Var):
            value = lookup(tok.key)
            if value is None:
                if tok.default is None:
                    raise Unresolved(tok.key)
                value = tok.default
            out.append(Substituted(value))
        else:
            out.append(tok)
    return tuple(out)


def literal_text(tokens: tuple[Token, ...]) -> str:
    """The tokens of a string without wildcards (a resolved StringEquals value) as text."""
    return "".join(t.char if isinstance(t, _Wildcard) else t for t in tokens)  # type: ignore[misc]


def _segment_regex(tokens: tuple[Token, ...]) -> str:
    """An ARN pattern as a regex: wildcards stay inside their colon-separated segment."""
    separators = sum(t.count(":") for t in tokens if isinstance(t, str) and not isinstance(t, Substituted))
    parts: list[str] = []
    colons = 0
    for tok in tokens:
        if isinstance(tok, _Wildcard):
            # In the resource part, or the last segment of a short pattern, a
            # wildcard spans the rest of the ARN; elsewhere only its segment.
            spans = colons >= 5 or colons == separators
            parts.append((".*" if tok is STAR else ".") if spans else ("[^:]*" if tok is STAR else "[^:]"))
        else:
            parts.append(re.escape(tok))  # type: ignore[arg-type]
            if not isinstance(tok, Substituted):
                colons += tok.count(":")  # type: ignore[union-attr]
    return "".join(parts)


def _flat_regex(tokens: tuple[Token, ...]) -> str:
    return "".join(
        (".*" if t is STAR else ".") if isinstance(t, _Wildcard) else re.escape(t)  # type: ignore[arg-type]
        for t in tokens
    )


def pattern_regex(tokens: tuple[Token, ...], mode: str) -> str:
    return _segment_regex(tokens) if mode == "arn" else _flat_regex(tokens)


def _is_match_all(tokens: tuple[Token, ...]) -> bool:
    return len(tokens) > 0 and all(t is STAR for t in tokens)


@functools.lru_cache(maxsize=4096)
def _compiled(tokens: tuple[Token, ...], mode: str) -> Callable[[str], bool]:
    if _is_match_all(tokens):
        return lambda value: True
    if not any(isinstance(t, _Wildcard) for t in tokens):
        text = "".join(tokens)  # type: ignore[arg-type]
        return text.__eq__
    rx = re.compile(pattern_regex(tokens, mode), re.DOTALL)
    return lambda value: rx.fullmatch(value) is not None


class PatternSet:
    """The values of one Action, Resource or StringLike/ArnLike entry list, matched as a whole.

    ``matches`` is True when any pattern matches. Static patterns are one
    set lookup and at most one regex; patterns with variables are resolved
    against the request. An unresolvable pattern does not match; with
    ``strict`` it raises :class:`Unresolved` instead (NotResource and
    conditions use that to make the whole statement not apply).
    """

    __slots__ = ("mode", "match_all", "exact", "regex", "templates")

    def __init__(self, token_lists: Iterable[tuple[Token, ...]], mode: str):
        self.mode = mode
        self.match_all = False
        exact: set[str] = set()
        wild: list[str] = []
        templates: list[tuple[Token, ...]] = []
        for tokens in token_lists:
            if mode == "action":
                tokens = tuple(t.lower() if isinstance(t, str) else t for t in tokens)
            if has_variables(tokens):
                templates.append(tokens)
            elif _is_match_all(tokens):
                self.match_all = True
            elif any(isinstance(t, _Wildcard) for t in tokens):
                wild.append(pattern_regex(tokens, mode))
            else:
                exact.add("".join(tokens))  # type: ignore[arg-type]
        self.exact = frozenset(exact)
        self.regex = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None
        self.templates = tuple(templates)

    def matches(self, value: str, lookup: Lookup | None = None, *, strict: bool = False) -> bool:
        """``value`` must already be lower-cased in ``action`` mode."""
        if self.match_all or value in self.exact:
            return True
        if self.regex is not None and self.regex.fullmatch(value) is not None:
            return True
        for tokens in self.templates:
            try:
                resolved = resolve(tokens, lookup or _no_variables)
            except Unresolved:
                if strict:
                    raise
                continue
            if self.mode == "action":
                resolved = tuple(t.lower() if isinstance(t, str) else t for t in resolved)
            if _compiled(resolved, self.mode)(value):
                return True
        return False


def _no_variables(key: str) -> None:
    return None
