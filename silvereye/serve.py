"""``silvereye serve``: the one process hosting every AWS service on one port.

It opens the store (bringing its schema up to date), assembles the services
listed in :data:`silvereye.services.registry.SERVICE_PACKAGES` behind the
gateway, and runs them under uvicorn (httptools + uvloop). Service start-up
hooks (the admin account on first start, controllers that reconcile with
libvirt) run in the ASGI lifespan, before the first request is answered.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from pathlib import Path

from silvereye.config import Config
from silvereye.errors import SilvereyeError

log = logging.getLogger("silvereye")


def build_gateway(cfg: Config):  # noqa: ANN201 - returns Gateway; imports are deferred for CLI start-up time
    from silvereye.services import iam
    from silvereye.services.gateway.app import Gateway
    from silvereye.services.registry import load_services
    from silvereye.store import open_store

    services = load_services()  # importing them registers their migrations
    try:
        store = open_store(cfg.store_url)
    except SilvereyeError:
        raise
    except Exception as e:  # an unreachable PostgreSQL, an unwritable SQLite file
        raise SilvereyeError(f"cannot open the store at {cfg.store_url}: {e.__class__.__name__}: {e}") from None
    return Gateway(
        config=cfg,
        services=services,
        store=store,
        resolver=iam.StoreCredentialResolver(store),
        access=iam.IamAccess(store),
        threads=cfg.api.workers_threads,
    )


def ensure_certificate(cfg: Config) -> tuple[Path, Path]:
    """A self-signed certificate for the API, generated on first start with TLS on."""
    tls_dir = Path(cfg.data_dir) / "tls"
    cert, key = tls_dir / "api-cert.pem", tls_dir / "api-key.pem"
    if cert.exists() and key.exists():
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from silvereye.net import public_host

    host = public_host(cfg)
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(f"*.s3.{cfg.dns_domain}"),
                                     x509.DNSName(f"s3.{cfg.dns_domain}"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "silvereye")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(private, hashes.SHA256())
    )
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


def serve(cfg: Config, *, log_level: str = "info") -> None:
    import uvicorn

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    gateway = build_gateway(cfg)
    ssl = {}
    if cfg.api.tls:
        cert, key = ensure_certificate(cfg)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            host=cfg.api.listen,
            port=cfg.api.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning" if log_level != "debug" else "debug",
            backlog=4096,
            timeout_keep_alive=75,
            server_header=False,
            **ssl,
        )
    )
    log.info("silvereye API listening on %s:%s (%s)", cfg.api.listen, cfg.api.port, "https" if ssl else "http")
    try:
        server.run()
    except OSError as e:
        raise SilvereyeError(f"cannot listen on {cfg.api.listen}:{cfg.api.port}: {e.strerror}; is another server running? (silvereye preflight checks the ports)") from None
    if not server.started:
        raise SilvereyeError(f"the API did not start on {cfg.api.listen}:{cfg.api.port}; see the log above")
