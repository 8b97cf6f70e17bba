"""S3 bodies checked while they stream: aws-chunked chunk signatures, trailers, declared hashes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import zlib

import pytest
from auth_capture import UTC, RecordingResolver, body_stream, call, client, drain, fetch, principal, run

from silvereye.services.gateway.auth import authenticate
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import Headers, HttpRequest
from silvereye.services.gateway.identity import Credential

from conftest import ALICE

# ---- AWS's published examples ("Signature calculations for the Authorization header:
# transferring payload in multiple chunks", with and without a signed trailer) -----------

DOC_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
DOC_TIME = dt.datetime(2013, 5, 24, tzinfo=UTC)
DOC_DATA = b"a" * 66560
DOC_PLAIN = {
    "seed": "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "signed": "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
    "x-amz-storage-class",
    "chunks": ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
               "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
               "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    "end": b"\r\n",
}
DOC_TRAILER = {
    "seed": "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    "signed": "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
    "x-amz-storage-class;x-amz-trailer",
    "chunks": ("b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
               "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
               "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"),
    "end": b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n",
}


def doc_resolver() -> RecordingResolver:
    return RecordingResolver({DOC_KEY[0]: Credential(*DOC_KEY, principal("doc"))})


def doc_request(example: dict) -> HttpRequest:
    trailer = example is DOC_TRAILER
    headers = [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")),
        ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                          f"SignedHeaders={example['signed']},Signature={example['seed']}"),
    ]
    if trailer:
        headers.append(("x-amz-trailer", "x-amz-checksum-crc32c"))
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", headers=Headers(headers))


def doc_body(example: dict) -> bytes:
    sizes = (65536, 1024, 0)
    parts = [b"%x;chunk-signature=%s\r\n" % (size, sig.encode()) + b"a" * size + (b"\r\n" if size else b"")
             for size, sig in zip(sizes, example["chunks"])]
    return b"".join(parts) + example["end"]


def decode(request: HttpRequest, resolver, body: bytes, piece: int = 65536, **kwargs) -> tuple[bytes, dict]:
    result = authenticate(request, service="s3", resolver=resolver, **kwargs)
    data = run(drain(result.payload, body_stream(body, piece)))
    return data, result.payload.trailing_checksums


def refused_body(request, resolver, body: bytes, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        decode(request, resolver, body, **kwargs)
    return caught.value


@pytest.mark.parametrize("piece", [1, 7, 777, 8192, 65536, 1 << 20])
def test_the_aws_streaming_examples_decode_in_any_pieces(piece):
    data, trailers = decode(doc_request(DOC_PLAIN), doc_resolver(), doc_body(DOC_PLAIN), piece, now=DOC_TIME)
    assert (data, trailers) == (DOC_DATA, {})
    data, trailers = decode(doc_request(DOC_TRAILER), doc_resolver(), doc_body(DOC_TRAILER), piece, now=DOC_TIME)
    assert (data, trailers) == (DOC_DATA, {"x-amz-checksum-crc32c": "sOO8/Q=="})


def test_a_changed_byte_chunk_signature_or_trailer_is_refused():
    body = bytearray(doc_body(DOC_PLAIN))
    body[66000] ^= 1  # inside the second chunk
    error = refused_body(doc_request(DOC_PLAIN), doc_resolver(), bytes(body), now=DOC_TIME)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)

    body = doc_body(DOC_PLAIN).replace(DOC_PLAIN["chunks"][2].encode(), b"0" * 64)
    assert refused_body(doc_request(DOC_PLAIN), doc_resolver(), body, now=DOC_TIME).code == "SignatureDoesNotMatch"

    body = doc_body(DOC_TRAILER).replace(b"sOO8/Q==", b"sOO8/A==")
    assert refused_body(doc_request(DOC_TRAILER), doc_resolver(), body, now=DOC_TIME).code == "SignatureDoesNotMatch"

    body = doc_body(DOC_TRAILER).replace(b"x-amz-trailer-signature", b"x-amz-trailer-signaturX")
    assert refused_body(doc_request(DOC_TRAILER), doc_resolver(), body, now=DOC_TIME).code == "SignatureDoesNotMatch"


def test_a_truncated_stream_is_an_incomplete_body():
    for cut in (10, 40000, 66000, len(doc_body(DOC_PLAIN)) - 3):
        error = refused_body(doc_request(DOC_PLAIN), doc_resolver(), doc_body(DOC_PLAIN)[:cut], now=DOC_TIME)
        assert (error.code, error.status) == ("IncompleteBody", 400), cut


def reference_chunks(sizes: list[int], seed: str) -> bytes:
    """Chunks signed by the published algorithm (AWS4-HMAC-SHA256-PAYLOAD), checked against AWS's example first."""
    key = hmac.new(b"AWS4" + DOC_KEY[1].encode(), b"20130524", hashlib.sha256).digest()
    for part in (b"us-east-1", b"s3", b"aws4_request"):
        key = hmac.new(key, part, hashlib.sha256).digest()
    previous, out = seed, bytearray()
    for size in sizes + [0]:
        data = b"a" * size
        string_to_sign = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                                    previous, hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()))
        previous = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n" % (size, previous.encode()) + data + b"\r\n"
    return bytes(out)


def test_only_the_last_chunk_may_be_shorter_than_8_kib():
    assert reference_chunks([65536, 1024], DOC_PLAIN["seed"]) == doc_body(DOC_PLAIN)  # the signer is AWS's
    body = reference_chunks([1024, 65536 - 1024 + 1024], DOC_PLAIN["seed"])
    error = refused_body(doc_request(DOC_PLAIN), doc_resolver(), body, now=DOC_TIME)
    assert (error.code, error.status) == ("InvalidChunkSizeError", 403)
    assert error.fields == {"Chunk": "1", "BadChunkSize": "1024"}


# ---- boto3's own uploads ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # our self-signed capture server
@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_boto3_unsigned_payload_with_trailing_checksum_over_tls(tls_server, resolver, algorithm):
    data = bytes(range(256)) * (12 * 1024 + 3)  # a little over 3 MiB
    s3 = client("s3", tls_server.url, *ALICE)
    wire = call(tls_server, s3, "put_object", Bucket="b", Key="k", Body=data, ChecksumAlgorithm=algorithm)
    request = wire.request(streaming=True)
    header = "x-amz-checksum-" + algorithm.lower()
    assert request.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert request.headers["x-amz-trailer"] == header
    result = authenticate(request, service="s3", resolver=resolver)
    assert result.payload.decoded_content_length == len(data)
    assert run(drain(result.payload, request.stream)) == data
    expected = {
        "CRC32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode(),
        "SHA1": base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "SHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }[algorithm]
    assert result.payload.trailing_checksums == {header: expected}

    changed = bytearray(wire.body)
    changed[100_000] ^= 0xFF  # a byte of payload: the trailer no longer matches
    result = authenticate(wire.request(), service="s3", resolver=resolver)
    with pytest.raises(ServiceError) as caught:
        run(drain(result.payload, body_stream(bytes(changed))))
    assert (caught.value.code, caught.value.status) == ("BadDigest", 400)
    assert caught.value.message == f"The {algorithm} you specified did not match the calculated checksum."

    without_trailer = wire.body.replace(f"{header}:{expected}\r\n".encode(), b"")
    result = authenticate(wire.request(), service="s3", resolver=resolver)
    with pytest.raises(ServiceError) as caught:
        run(drain(result.payload, body_stream(without_trailer)))
    assert caught.value.code == "MalformedTrailerError"


def test_a_declared_sha256_is_checked_at_the_end(server, resolver):
    data = b"0123456789" * 100_000
    s3 = client("s3", server.url, *ALICE)
    wire = call(server, s3, "put_object", Bucket="b", Key="k", Body=data)
    request = wire.request(streaming=True)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(data).hexdigest()
    result = authenticate(request, service="s3", resolver=resolver)
    assert run(drain(result.payload, request.stream)) == data

    result = authenticate(wire.request(), service="s3", resolver=resolver)
    tampered = data[:-1] + b"!"
    with pytest.raises(ServiceError) as caught:
        run(drain(result.payload, body_stream(tampered)))
    assert (caught.value.code, caught.value.status) == ("XAmzContentSHA256Mismatch", 400)
    assert caught.value.fields == {
        "ClientComputedContentSHA256": hashlib.sha256(data).hexdigest(),
        "S3ComputedContentSHA256": hashlib.sha256(tampered).hexdigest(),
    }


def test_an_unsigned_body_shorter_than_its_content_length(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3v4")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "b", "Key": "k"})
    wire = fetch(server, url, "PUT", b"x" * 5000)
    result = authenticate(wire.request(), service="s3", resolver=resolver)
    assert run(drain(result.payload, body_stream(wire.body))) == wire.body
    result = authenticate(wire.request(), service="s3", resolver=resolver)
    with pytest.raises(ServiceError) as caught:
        run(drain(result.payload, body_stream(wire.body[:4000])))
    assert caught.value.code == "IncompleteBody"
