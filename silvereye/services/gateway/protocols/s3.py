"""S3's quirks over REST-XML.

* The bucket may come from the Host (virtual-host style): the router passes
  it as ``parse(request, bucket=...)`` (see :mod:`.restxml`).
* ``GET /`` is both ListBuckets and ListDirectoryBuckets in the model; the
  latter belongs to the S3 Express control endpoint, so plain S3 routes to
  ListBuckets (:class:`S3RouteTable`).
* Bad input is answered with S3's own codes (:class:`~.validate.S3Style`).
* Responses carry ``x-amz-request-id`` and ``x-amz-id-2``; XML documents
  have the root names S3 sends (``ListBucketResult``, ...), which the model
  does not record, in S3's namespace; errors are a bare ``<Error>`` with
  ``RequestId`` and ``HostId`` inside.
* A GetObject/HeadObject answer with a Content-Range is 206 Partial
  Content; a 304 Not Modified (raised as an error) carries no body.
* GetBucketLocation answers ``<LocationConstraint>region</LocationConstraint>``
  -- the value is the root's text, not a child (botocore reads it that way).
"""

from __future__ import annotations

import base64
import hashlib
from xml.etree import ElementTree as ET

from silvereye.services.gateway.protocols.restxml import RestXmlRequestParser, RestXmlResponseSerializer
from silvereye.services.gateway.protocols.routes import RouteTable
from silvereye.services.gateway.protocols.validate import S3Style

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

# Root element of each response document, as S3 writes it (S3 API reference).
ROOT_NAMES = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
    "ListBucketIntelligentTieringConfigurations": "ListBucketIntelligentTieringConfigurationsOutput",
    "CreateSession": "CreateSessionResult",
}

# Operations whose one output member is the text of the root element.
TEXT_ROOT = {"GetBucketLocation": "LocationConstraint"}

EXPRESS_CONTROL = "UseS3ExpressControlEndpoint"

# Operations answering 206 when they return part of an object.
PARTIAL_CONTENT = {"GetObject", "HeadObject"}


class S3RouteTable(RouteTable):
    def prefer(self, tied):
        plain = [
            (route, labels)
            for route, labels in tied
            if not any(p.name == EXPRESS_CONTROL and p.value for p in route.operation.static_context_parameters)
        ]
        return (plain or tied)[0]


class S3RequestParser(RestXmlRequestParser):
    ROUTE_TABLE = S3RouteTable

    @classmethod
    def error_style(cls, service_model):
        return S3Style()


def host_id(request_id: str) -> str:
    """An x-amz-id-2 value: opaque, stable for the request, shaped like S3's."""
    return base64.b64encode(hashlib.sha256(request_id.encode("utf-8")).digest()).decode("ascii")


class S3ResponseSerializer(RestXmlResponseSerializer):
    def __init__(self, service_model):
        super().__init__(service_model)
        self.namespace = S3_NAMESPACE

    def serialize(self, operation_model, result, request_id):
        response = super().serialize(operation_model, result, request_id)
        if operation_model.name in PARTIAL_CONTENT and (result or {}).get("ContentRange"):
            response.status = 206
        return response

    def serialize_error(self, error, operation_model, request_id):
        response = super().serialize_error(error, operation_model, request_id)
        if response.status == 304:  # "Not Modified" has no body (RFC 9110 15.4.5)
            response.body = b""
            response.headers.remove("Content-Type")
        return response

    def add_request_id(self, response, request_id):
        response.headers.add("x-amz-request-id", request_id)
        response.headers.add("x-amz-id-2", host_id(request_id))

    def root_name(self, operation_model, shape):
        return ROOT_NAMES.get(operation_model.name) or shape.serialization.get("name") or f"{operation_model.name}Result"

    def write_body(self, operation_model, shape, result, response):
        member = TEXT_ROOT.get(operation_model.name)
        if member is None:
            return super().write_body(operation_model, shape, result, response)
        root = ET.Element(member, xmlns=self.namespace)
        root.text = result.get(member) or None
        self.set_xml(response, root)

    def error_envelope(self, error):
        root = ET.Element("Error")
        return root, root

    def finish_error_envelope(self, root, element, request_id):
        ET.SubElement(root, "RequestId").text = request_id
        ET.SubElement(root, "HostId").text = host_id(request_id)
