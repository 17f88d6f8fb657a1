"""The embedded default over HTTPS, for clients that only speak TLS (`make serve-tls`).

The ElevenLabs SDK's `convert_realtime` always opens `wss://` whatever scheme its base URL has, so
it cannot reach `make serve`'s plain HTTP. This writes a self-signed certificate for 127.0.0.1,
::1 and localhost into data/tls/ under the data root (made once, again when under 30 days remain)
and next to it `serve_config.local.tls.yaml`: serve_config.local.yaml with HTTPS on port 8443
(Ray Serve's `http_options.ssl_certfile` / `ssl_keyfile`), nothing else changed. It prints that
config's path, which the Makefile hands to `serve run`.

Clients trust the certificate by name: `SSL_CERT_FILE=data/tls/cert.pem` (Python's default SSL
context, which the SDK uses, and httpx), `curl --cacert data/tls/cert.pem`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ground.paths import resolve

TLS_PORT = 8443
LOCAL_CONFIG = Path(__file__).resolve().parent.parent / "serve_config.local.yaml"
TLS_DIR = Path("data/tls")  # under the data root, beside the embedded default's other data
VALID_DAYS = 365
RENEW_DAYS = 30


def _still_valid(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return False
    remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return remaining > datetime.timedelta(days=RENEW_DAYS)


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """cert.pem and key.pem in `directory`: a self-signed certificate for the loopback addresses,
    kept while it has more than RENEW_DAYS left."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if _still_valid(cert_path, key_path):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Chorus local TLS (127.0.0.1)")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Its own issuer, so clients take it as the trust anchor (strict X.509 checks included).
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        os.fchmod(key_file.fileno(), 0o600)  # also when an older key file was there
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def tls_config(config: dict, cert_path: Path, key_path: Path, port: int = TLS_PORT) -> dict:
    """`config` (a serve config) served over HTTPS on `port`; its applications are left as they are."""
    http_options = {**config.get("http_options", {}), "port": port,
                    "ssl_certfile": str(cert_path), "ssl_keyfile": str(key_path)}
    return {**config, "http_options": http_options}


def write_tls_config(directory: Path, base: Path = LOCAL_CONFIG) -> Path:
    cert_path, key_path = write_certificate(directory)
    config = tls_config(yaml.safe_load(base.read_text()), cert_path.absolute(), key_path.absolute())
    path = directory / "serve_config.local.tls.yaml"
    header = f"# Written by install/local_tls.py from {base.name} (edit that file instead): the same, over HTTPS.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return path


if __name__ == "__main__":
    config_path = write_tls_config(resolve(TLS_DIR))
    print(f"Serving https://127.0.0.1:{TLS_PORT} with {config_path.parent / 'cert.pem'}: "
          f"clients trust it with SSL_CERT_FILE=data/tls/cert.pem", file=sys.stderr)
    print(config_path)
