"""IAM's errors, with the codes, statuses and wording AWS uses."""

from __future__ import annotations

from silvereye.services.gateway.errors import ServiceError


def no_such_entity(message: str) -> ServiceError:
    return ServiceError("NoSuchEntity", message, 404)


def already_exists(message: str) -> ServiceError:
    return ServiceError("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> ServiceError:
    return ServiceError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceeded", message, 409)


def quota_exceeded(quota: str, limit: int) -> ServiceError:
    return limit_exceeded(f"Cannot exceed quota for {quota}: {limit}")


def invalid_input(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message, 400)


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400)


def malformed_policy(message: str) -> ServiceError:
    return ServiceError("MalformedPolicyDocument", message, 400)


def unmodifiable(message: str) -> ServiceError:
    return ServiceError("UnmodifiableEntity", message, 400)
