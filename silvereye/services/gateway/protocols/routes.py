"""Which REST operation a request names: method + ``requestUri`` template + query discriminators.

Built once per service model. A template such as
``/{Bucket}/{Key+}?uploads`` becomes a regular expression over the raw
(still percent-encoded) path -- so ``%2F`` inside a plain label never splits
it -- plus literal query keys that must be present (``?uploads``,
``?list-type=2``). Several operations often share one template (S3's
``PUT /{Bucket}/{Key+}`` is PutObject, CopyObject, UploadPart and
UploadPartCopy); the required query and header members (``uploadId``,
``x-amz-copy-source``) tell them apart, so candidates are ranked by:

1. literal query keys and required query members (all must be present;
   more is more specific: UploadPart's ``uploadId`` beats PutObject),
2. whether all required header members are present, and how many
   (CopyObject's ``x-amz-copy-source``; a missing one does not exclude the
   route, so the validator can name it),
3. literal path characters, then non-greedy over greedy,
4. non-deprecated over deprecated (GetBucketLifecycle vs ...Configuration).

A remaining tie is settled by :meth:`RouteTable.prefer`, which service
quirks override.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from silvereye.services.gateway.errors import ServiceError

_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass
class Route:
    operation: object  # botocore OperationModel
    method: str
    pattern: re.Pattern
    labels: dict[str, str]  # regex group -> label name as written in the template
    literal_query: dict[str, str | None]  # key -> required value (None: present with any value)
    required_query: tuple[str, ...] = ()
    required_headers: tuple[str, ...] = ()
    literal_chars: int = 0
    greedy: bool = False
    deprecated: bool = False
    template: str = field(default="")

    def match_path(self, raw_path: str) -> dict[str, str] | None:
        match = self.pattern.fullmatch(raw_path)
        if match is None:
            return None
        return {label: unquote(match.group(group)) for group, label in self.labels.items()}

    def matches_query(self, query: dict[str, list[str]]) -> bool:
        """Literal query keys (``?uploads``, ``?list-type=2``) and required query members must be there."""
        for key, wanted in self.literal_query.items():
            if key not in query:
                return False
            if wanted is not None and wanted not in query[key]:
                return False
        return all(key in query for key in self.required_query)

    def rank(self, query: dict[str, list[str]], headers) -> tuple:
        present = sum(1 for h in self.required_headers if headers.get(h) is not None)
        complete = present == len(self.required_headers)
        specific = len(self.literal_query) + len(self.required_query)
        return (specific, complete, present, self.literal_chars, not self.greedy, not self.deprecated)


def compile_template(template: str) -> tuple[re.Pattern, dict[str, str], dict[str, str | None], int, bool]:
    path, _, query = template.partition("?")
    regex, labels, literal_chars, greedy = [], {}, 0, False
    pos = 0
    for i, match in enumerate(_LABEL.finditer(path)):
        literal = path[pos:match.start()]
        regex.append(re.escape(literal))
        literal_chars += len(literal)
        name = match.group(1)
        group = f"l{i}"
        if name.endswith("+"):
            labels[group] = name[:-1]
            regex.append(f"(?P<{group}>.+)")
            greedy = True
        else:
            labels[group] = name
            regex.append(f"(?P<{group}>[^/]+)")
        pos = match.end()
    tail = path[pos:]
    regex.append(re.escape(tail))
    literal_chars += len(tail)
    if not greedy and not path.endswith("/"):
        regex.append("/?")  # S3 answers /bucket/ as /bucket
    literal_query = {k: (v if v != "" else None) for k, v in parse_qsl(query, keep_blank_values=True)}
    return re.compile("".join(regex)), labels, literal_query, literal_chars, greedy


class RouteTable:
    """All REST routes of one service model, grouped by HTTP method."""

    def __init__(self, service_model):
        self.by_method: dict[str, list[Route]] = {}
        for name in service_model.operation_names:
            operation = service_model.operation_model(name)
            route = self._route(operation)
            self.by_method.setdefault(route.method, []).append(route)

    @staticmethod
    def _route(operation) -> Route:
        template = operation.http.get("requestUri", "/")
        pattern, labels, literal_query, literal_chars, greedy = compile_template(template)
        required_query, required_headers = [], []
        shape = operation.input_shape
        if shape is not None:
            for member_name in shape.required_members:
                member = shape.members[member_name]
                location = member.serialization.get("location")
                wire = member.serialization.get("name", member_name)
                if location == "querystring" and member.type_name != "map":
                    required_query.append(wire)
                elif location == "header":
                    required_headers.append(wire)
        return Route(
            operation=operation,
            method=operation.http.get("method", "POST").upper(),
            pattern=pattern,
            labels=labels,
            literal_query=literal_query,
            required_query=tuple(required_query),
            required_headers=tuple(required_headers),
            literal_chars=literal_chars,
            greedy=greedy,
            deprecated=bool(operation.deprecated),
            template=template,
        )

    def resolve(self, method: str, raw_path: str, query: dict[str, list[str]], headers) -> tuple[Route, dict[str, str]]:
        candidates = []
        for route in self.by_method.get(method.upper(), []):
            labels = route.match_path(raw_path)
            if labels is not None and route.matches_query(query):
                candidates.append((route.rank(query, headers), route, labels))
        if not candidates:
            raise self.no_route(method, raw_path, query)
        best = max(rank for rank, _, _ in candidates)
        tied = [(route, labels) for rank, route, labels in candidates if rank == best]
        return self.prefer(tied) if len(tied) > 1 else tied[0]

    def prefer(self, tied: list[tuple[Route, dict[str, str]]]) -> tuple[Route, dict[str, str]]:
        """Settle a tie between equally specific routes: by default the first in the model."""
        return tied[0]

    def no_route(self, method: str, raw_path: str, query) -> ServiceError:
        """No operation takes this request: 405 when the path exists for other methods."""
        for other, routes in self.by_method.items():
            if other != method.upper() and any(r.match_path(raw_path) is not None for r in routes):
                return ServiceError(
                    "MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    Method=method.upper(),
                )
        return ServiceError("NotImplemented", "A request you provided implies functionality that is not implemented.", 501)

    def routes(self):
        for routes in self.by_method.values():
            yield from routes
