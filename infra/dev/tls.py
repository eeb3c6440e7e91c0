"""Certificates for the local broker's SASL_SSL listener, made with the JDK's keytool.

`make_authority` makes a certificate authority (its key stays in a PKCS12 store beside
its PEM certificate, which clients trust through KAFKA_SSL_CA_FILE); `make_broker_keystore`
makes the broker's key and a certificate the authority signs for localhost and 127.0.0.1.
Passwords of the stores are random and kept next to them, readable by the owner only.
keytool comes with the Java the broker runs on, so the set-up needs nothing more.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infra.kafka.cluster import BrokerError

SUBJECT_NAMES = "SAN=dns:localhost,ip:127.0.0.1"
DAYS = 825


@dataclass(frozen=True)
class Authority:
    store: Path  # PKCS12 with the authority's key
    certificate: Path  # PEM: what clients trust
    password: str = field(repr=False)


@dataclass(frozen=True)
class BrokerKeystore:
    store: Path  # PKCS12: the broker's key, its certificate and the authority's
    password: str = field(repr=False)


def _keytool(*args: str) -> None:
    done = subprocess.run(["keytool", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # keytool's own words; its arguments hold store passwords, so they are not shown.
        raise BrokerError(f"keytool {args[0]} failed: {done.stdout.strip()} {done.stderr.strip()}")


def _secret_file(path: Path, value: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value + "\n")


def _password(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    _secret_file(path, value)
    return value


def make_authority(folder: Path, name: str = "station-scorer local CA") -> Authority:
    """The authority in `folder` (made once, then reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    store, pem = folder / "ca.p12", folder / "ca.pem"
    password = _password(folder / "ca.password")
    if not store.exists():
        _keytool(
            "-genkeypair",
            "-alias",
            "ca",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-validity",
            str(3 * DAYS),
            "-dname",
            f"CN={name}",
            "-ext",
            "bc:c",
            "-keystore",
            str(store),
            "-storetype",
            "PKCS12",
            "-storepass",
            password,
        )
        pem.unlink(missing_ok=True)
    if not pem.exists():
        _keytool(
            "-exportcert",
            "-alias",
            "ca",
            "-rfc",
            "-keystore",
            str(store),
            "-storepass",
            password,
            "-file",
            str(pem),
        )
    return Authority(store, pem, password)


def make_broker_keystore(folder: Path, authority: Authority) -> BrokerKeystore:
    """The broker's keystore in `folder`, signed by `authority` (made once, then reused)."""
    store = folder / "broker.p12"
    password = _password(folder / "broker.password")
    if store.exists():
        return BrokerKeystore(store, password)
    request, signed = folder / "broker.csr", folder / "broker.pem"
    common = ["-keystore", str(store), "-storepass", password]
    _keytool(
        "-genkeypair",
        "-alias",
        "broker",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        str(DAYS),
        "-dname",
        "CN=localhost",
        "-ext",
        SUBJECT_NAMES,
        "-storetype",
        "PKCS12",
        *common,
    )
    _keytool("-certreq", "-alias", "broker", "-file", str(request), *common)
    _keytool(
        "-gencert",
        "-alias",
        "ca",
        "-keystore",
        str(authority.store),
        "-storepass",
        authority.password,
        "-infile",
        str(request),
        "-outfile",
        str(signed),
        "-rfc",
        "-validity",
        str(DAYS),
        "-ext",
        SUBJECT_NAMES,
        "-ext",
        "eku=serverAuth",
    )
    _keytool(
        "-importcert", "-alias", "ca", "-file", str(authority.certificate), "-noprompt", *common
    )
    _keytool("-importcert", "-alias", "broker", "-file", str(signed), *common)
    request.unlink()
    return BrokerKeystore(store, password)
