"""S3's errors: AWS's codes, HTTP statuses and wording, with the extra fields S3 puts in ``<Error>``.

Wording is S3's own (S3 API reference, "Error responses", and what S3
answers on the wire), because clients and people match on it.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.errors import ServiceError

MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"


def s3(code: str, message: str, status: int = 400, **fields: Any) -> ServiceError:
    return ServiceError(code, message, status, **{k: v for k, v in fields.items() if v is not None})


def no_such_bucket(bucket: str) -> ServiceError:
    return s3("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> ServiceError:
    return s3("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_version(key: str, version_id: str) -> ServiceError:
    return s3("NoSuchVersion", "The specified version does not exist.", 404, Key=key, VersionId=version_id)


def no_such_upload(upload_id: str) -> ServiceError:
    return s3(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        404, UploadId=upload_id,
    )


def access_denied(message: str = "Access Denied") -> ServiceError:
    return s3("AccessDenied", message, 403)


def invalid_argument(message: str, name: str | None = None, value: Any = None) -> ServiceError:
    return s3("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=None if value is None else str(value))


def invalid_request(message: str) -> ServiceError:
    return s3("InvalidRequest", message, 400)


def malformed_xml() -> ServiceError:
    return s3("MalformedXML", MALFORMED_XML, 400)


def not_implemented(message: str) -> ServiceError:
    return ServiceError("NotImplemented", message, 501, sender_fault=False)


def method_not_allowed(method: str, resource_type: str) -> ServiceError:
    return s3("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
              Method=method, ResourceType=resource_type)


def precondition_failed(condition: str) -> ServiceError:
    return s3("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
              Condition=condition)


def not_modified() -> ServiceError:
    return s3("NotModified", "Not Modified", 304)


def invalid_range(requested: str, size: int) -> ServiceError:
    return s3("InvalidRange", "The requested range is not satisfiable", 416,
              RangeRequested=requested, ActualObjectSize=str(size))


def bad_digest(expected: str, calculated: str) -> ServiceError:
    return s3("BadDigest", "The Content-MD5 you specified did not match what we received.", 400,
              ExpectedDigest=expected, CalculatedDigest=calculated)


def invalid_digest(value: str) -> ServiceError:
    return s3("InvalidDigest", "The Content-MD5 you specified is not valid.", 400, **{"Content-MD5": value})


def entity_too_large(size: int, limit: int) -> ServiceError:
    return s3("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
              ProposedSize=str(size), MaxSizeAllowed=str(limit))


def invalid_tag(message: str) -> ServiceError:
    return s3("InvalidTag", message, 400)


def not_configured(code: str, message: str, bucket: str) -> ServiceError:
    """NoSuchTagSet, NoSuchCORSConfiguration, ...: the bucket has none of what was asked for."""
    return s3(code, message, 404, BucketName=bucket)


def out_of_space() -> ServiceError:
    return ServiceError("ServiceUnavailable", "The object store is out of disk space; try again later.", 503,
                        sender_fault=False)
