"""How a service plugs into the one listener.

A service package (``silvereye.services.iam``, ``...s3``, ``...ec2``) exposes
``SERVICE``, a :class:`Service`: its botocore model name, how clients address
it (signing name, Eucalyptus path), and one handler per operation. Handlers
are plain functions named after the operation in snake case
(``CreateUser`` -> ``create_user(ctx, params) -> dict``), collected from the
service's modules by :func:`collect_handlers`; an operation without one
answers the not-implemented error, never a fake success.

Authorization is declared, not coded into handlers: the service's
``resources`` function names the ARN(s) an operation acts on, and the gateway
asks the IAM policy engine whether the caller may perform
``<iam_prefix>:<Operation>`` on them before the handler runs. Services whose
access rules go beyond identity policies (S3's bucket policies and ACLs)
supply their own ``authorize``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Union

import botocore.model
from botocore import xform_name

from silvereye.services.gateway.models import service_model

if TYPE_CHECKING:  # pragma: no cover
    from silvereye.services.gateway.context import RequestContext

Handler = Callable[["RequestContext", dict[str, Any]], Union[dict[str, Any], Awaitable[dict[str, Any]]]]
ResourceResolver = Callable[["RequestContext", str, dict[str, Any]], list[str]]
Authorizer = Callable[["RequestContext", str, dict[str, Any]], None]


@dataclass
class Service:
    name: str  # botocore model name: 'iam', 'sts', 'ec2', 's3', 'monitoring', ...
    signing_name: str  # the credential scope's service: 'iam', 'ec2', 's3', 'monitoring', ...
    iam_prefix: str  # the action prefix in IAM policies: 'iam', 'ec2', 's3', 'cloudwatch', ...
    euca_path: str  # Eucalyptus-style path prefix: '/services/Euare', '/services/compute', ...
    handlers: dict[str, Handler] = field(default_factory=dict)
    resources: ResourceResolver | None = None
    authorize: Authorizer | None = None  # replaces the default identity-policy check
    # Operations any authenticated principal may call without an IAM allow
    # (sts:GetCallerIdentity is the one AWS documents).
    unauthenticated_ok: frozenset[str] = frozenset()
    # Answers OPTIONS requests before authentication (S3's CORS preflight, which browsers send unsigned).
    options: Callable[["RequestContext"], Any] | None = None
    startup: list[Callable[[Any], Any]] = field(default_factory=list)  # called with the Gateway
    shutdown: list[Callable[[Any], Any]] = field(default_factory=list)

    @property
    def model(self) -> botocore.model.ServiceModel:
        return service_model(self.name)

    @property
    def api_version(self) -> str:
        return self.model.api_version

    def handler_for(self, operation: str) -> Handler | None:
        return self.handlers.get(operation)

    def is_async(self, operation: str) -> bool:
        h = self.handlers.get(operation)
        return h is not None and inspect.iscoroutinefunction(h)


def collect_handlers(model_name: str, *modules: ModuleType | str) -> dict[str, Handler]:
    """Map operation names to the functions named after them in ``modules``.

    A public function whose name matches no operation is a bug (a typo would
    silently leave the operation unimplemented), so it raises at import.
    """
    model = service_model(model_name)
    by_snake = {xform_name(op): op for op in model.operation_names}
    handlers: dict[str, Handler] = {}
    for mod in modules:
        if isinstance(mod, str):
            mod = importlib.import_module(mod)
        for fname, fn in vars(mod).items():
            if fname.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != mod.__name__:
                continue
            if getattr(fn, "__silvereye_helper__", False):
                continue
            op = by_snake.get(fname)
            if op is None:
                raise RuntimeError(f"{mod.__name__}.{fname} is not named after a {model_name} operation")
            if op in handlers:
                raise RuntimeError(f"two handlers for {model_name}:{op}")
            handlers[op] = fn
    return handlers


def helper(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a public function in a handler module as not being a handler."""
    fn.__silvereye_helper__ = True  # type: ignore[attr-defined]
    return fn


# Every service package the listener serves, in routing order of preference.
SERVICE_PACKAGES = [
    "silvereye.services.iam",
    "silvereye.services.sts",
    "silvereye.services.s3",
    "silvereye.services.ec2",
]


def load_services(packages: list[str] | None = None) -> list[Service]:
    services = []
    for pkg in packages or SERVICE_PACKAGES:
        mod = importlib.import_module(pkg)
        services.append(mod.SERVICE)
    return services
