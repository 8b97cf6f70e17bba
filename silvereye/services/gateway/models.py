"""botocore's service models, loaded once per process."""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.model


@functools.lru_cache(maxsize=None)
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@functools.lru_cache(maxsize=None)
def service_model(name: str) -> botocore.model.ServiceModel:
    """The model of a service by botocore name ('ec2', 's3', 'iam', 'monitoring', ...)."""
    data = _loader().load_service_model(name, "service-2")
    return botocore.model.ServiceModel(data, service_name=name)
