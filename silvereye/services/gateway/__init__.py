"""The only part of silvereye that knows HTTP and AWS wire formats.

Flow of a request: :mod:`app` (ASGI) builds an :class:`~.http.HttpRequest`;
:mod:`routing` names the service; :mod:`auth` authenticates the signature;
a protocol parser from :mod:`protocols` turns it into (operation, params)
validated against botocore's input shape; the service's authorizer checks
IAM; the handler named after the operation runs; the protocol serializer
turns its dict (or a :class:`~.errors.ServiceError`) into the response.
"""
