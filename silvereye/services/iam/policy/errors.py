"""The one error a bad policy document produces.

IAM, STS and S3 all reject a bad document with the code
``MalformedPolicyDocument`` (S3 calls it ``MalformedPolicy``); a subclass of
:class:`ServiceError` lets a caller catch exactly this and re-raise it under
its own service's code while keeping IAM's message.
"""

from __future__ import annotations

from silvereye.services.gateway.errors import ServiceError

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"


class MalformedPolicyDocument(ServiceError):
    def __init__(self, message: str):
        super().__init__("MalformedPolicyDocument", message, 400)
