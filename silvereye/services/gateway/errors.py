"""Typed AWS errors raised by parsers, authenticators and handlers.

A :class:`ServiceError` carries AWS's error code, message and HTTP status;
the protocol serializer turns it into that protocol's error envelope. When
``status`` is None the serializer takes it from the error shape in the
service model (botocore models give ``httpStatusCode`` for most errors), and
falls back to 400.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(
        self,
        code: str,
        message: str = "",
        status: int | None = None,
        *,
        sender_fault: bool = True,
        **fields: Any,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        # Extra members some envelopes carry (S3: BucketName, Key, Resource...).
        self.fields = fields


def not_implemented(service: str, operation: str) -> ServiceError:
    """The answer for an operation in the model that silvereye does not implement."""
    return ServiceError(
        "NotImplemented",
        f"The {operation} operation of {service} is not implemented by silvereye.",
        501,
        sender_fault=False,
    )


def access_denied(principal_arn: str, action: str, resource: str) -> ServiceError:
    return ServiceError(
        "AccessDenied",
        f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}",
        403,
    )


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400)


def internal_error() -> ServiceError:
    return ServiceError("InternalError", "We encountered an internal error. Please try again.", 500, sender_fault=False)
