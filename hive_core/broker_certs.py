"""The TLS broker's certificate: the operator's files, or a CA and server certificate of our own.

Made on first use in ``<state>/broker-tls/`` (0700; keys 0600): a self-signed
CA (``ca.crt``, ``ca.key``, ten years) and a server certificate it signs
(``server.crt``, ``server.key``, one year) for the names the operator gives
(``--broker-san``: DNS names or IP addresses). The pods trust ``ca.crt``
(the kubernetes runtime puts it in each agent's ConfigMap). The server
certificate is issued again, by the same CA, when the names change or it has
under 30 days left, so pods keep trusting it; the CA is made once.

Why ``cryptography``: it is the library Python's own ecosystem uses for X.509
(pyca, maintained by the PyCA group, wheels everywhere); the standard library
can serve TLS but cannot make a certificate, and shelling out to ``openssl``
would tie us to its CLI's flags. Only the daemon needs it, and only when it
makes the files: operator-provided ``--broker-cert``/``--broker-key`` need none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_kit.errors import PermanentError

CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_DAYS = 30


@dataclass(frozen=True)
class BrokerCert:
    cert: Path
    key: Path
    ca: Path | None  # the CA pods should trust (None: the operator's own, not ours to give)


def ensure_certs(directory: Path, sans: tuple[str, ...], *, now: dt.datetime | None = None) -> BrokerCert:
    """The CA and server certificate in ``directory`` for ``sans``, made or renewed as needed."""
    try:
        from cryptography import x509
    except ImportError as exc:
        raise PermanentError(
            "making the TLS broker's certificate needs cryptography: pip install 'hyperhive[kubernetes]', "
            "or give your own with --broker-cert and --broker-key"
        ) from exc
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    out = BrokerCert(directory / "server.crt", directory / "server.key", directory / "ca.crt")
    ca_key_path = directory / "ca.key"
    if not (out.ca and out.ca.exists() and ca_key_path.exists()):
        _make_ca(directory, now)
    if _current(out.cert, sans, now, x509):
        return out
    _make_server(directory, sans, now)
    return out


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes) -> None:
    """Born 0600 under a temporary name, then renamed: never half-written, never readable by others."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hyperhive"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])  # fmt: skip


def _make_ca(directory: Path, now: dt.datetime) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    name = _name("hyperhive broker CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / "ca.key", _pem_key(key))
    _write(directory / "ca.crt", _pem_cert(cert))
    (directory / "server.crt").unlink(missing_ok=True)  # signed by a CA that is gone


def _alt_names(sans: tuple[str, ...]) -> list[Any]:
    from cryptography import x509

    out: list[Any] = []
    for san in sans:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            out.append(x509.DNSName(san))
    return out


def _make_server(directory: Path, sans: tuple[str, ...], now: dt.datetime) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(sans[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(sans)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write(directory / "server.key", _pem_key(key))
    _write(directory / "server.crt", _pem_cert(cert))


def _current(path: Path, sans: tuple[str, ...], now: dt.datetime, x509: Any) -> bool:
    """The server certificate exists, names exactly ``sans`` and has over RENEW_DAYS left."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have = {str(n.value) for n in names}
    left = cert.not_valid_after_utc - now
    return have == {str(ipaddress.ip_address(s)) if _is_ip(s) else s for s in sans} and left > dt.timedelta(
        days=RENEW_DAYS
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
