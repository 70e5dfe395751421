"""TLS and mutual TLS against the real embedded Milvus 2.3.5 (``--tls-mode 1`` and ``--tls-mode 2``).

A throwaway PKI is made here with ``cryptography``: a test CA, a rogue CA (the "wrong CA"), a server certificate for
``localhost``/``127.0.0.1`` (mode 1), a server certificate for the name ``milvus.test`` only (mode 2, so every client
must dial 127.0.0.1 with ``server_name="milvus.test"``) and client certificates from both CAs.

Marked ``milvus_restart``, so it runs after the tests of the plain server (tests/conftest.py orders them): each mode
restarts the single server (~10 s), and the harness restarts the plain server itself if a later test needs it. Auth
mode is covered by test_bulk_import_auth_milvus.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import helpers
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from milvus_server import MilvusHarness, MilvusServer

import pymilvus_import as pi
from pymilvus_import._generated import milvus_pb2
from tools import milvus_pb2_grpc

pytestmark = [pytest.mark.milvus, pytest.mark.milvus_restart]

ADDRESS = "127.0.0.1:19530"
OVERRIDE_NAME = "milvus.test"
FAIL_TIMEOUT = 5.0
SLACK = 1.5
FAST = pi.Retry(initial=0.01, maximum=0.02)  # failing handshakes are retried quickly (read-only RPCs only)


# ------------------------------------------------------------------------------------------------ throwaway PKI
@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pair(cert_path, key_path)


class Authority:
    def __init__(self, directory: Path, common_name: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pair = _write(directory, common_name.replace(" ", "-"), self.cert, self.key)

    @property
    def pem(self) -> Path:
        return self.pair.cert

    def issue(self, stem: str, common_name: str, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if sans else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return _write(self.directory, stem, builder.sign(self.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class PKI:
    ca: Path
    rogue_ca: Path
    server_ip: Pair  # SAN localhost, 127.0.0.1
    server_named: Pair  # SAN milvus.test only
    client: Pair
    rogue_client: Pair


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "pymilvus-import test CA")
    rogue = Authority(directory, "rogue CA")
    return PKI(
        ca=ca.pem,
        rogue_ca=rogue.pem,
        server_ip=ca.issue("server-ip", "localhost", dns=("localhost",), ips=("127.0.0.1",)),
        server_named=ca.issue("server-named", OVERRIDE_NAME, dns=(OVERRIDE_NAME,)),
        client=ca.issue("client", "pymilvus-import test client"),
        rogue_client=rogue.issue("rogue-client", "rogue client"),
    )


# ------------------------------------------------------------------------------------------------ servers
def tls_ready_check(ca: Path, name: str | None = None, client: Pair | None = None) -> Callable[[str], bool]:
    """The harness's readiness check for a TLS server: a GetVersion RPC over TLS answers OK."""

    def check(address: str) -> bool:
        credentials = grpc.ssl_channel_credentials(
            ca.read_bytes(),
            client.key.read_bytes() if client else None,
            client.cert.read_bytes() if client else None,
        )
        options = [("grpc.ssl_target_name_override", name)] if name else []
        channel = grpc.secure_channel(address, credentials, options=options)
        try:
            reply = milvus_pb2_grpc.MilvusServiceStub(channel).GetVersion(milvus_pb2.GetVersionRequest(), timeout=2)
            return reply.status.code == 0 and bool(reply.version)
        except grpc.RpcError:
            return False
        finally:
            channel.close()

    return check


def tls_args(mode: int, server: Pair, ca: Path) -> tuple[str, ...]:
    return (
        "--tls-mode",
        str(mode),
        "--server-pem-path",
        str(server.cert),
        "--server-key-path",
        str(server.key),
        "--ca-pem-path",
        str(ca),
    )


@pytest.fixture
def tls_server(milvus_harness: MilvusHarness, pki: PKI) -> MilvusServer:
    """Server TLS (mode 1) with the certificate for localhost / 127.0.0.1."""
    return milvus_harness.get(tls_args(1, pki.server_ip, pki.ca), ready_check=tls_ready_check(pki.ca))


@pytest.fixture
def mtls_server(milvus_harness: MilvusHarness, pki: PKI) -> MilvusServer:
    """Mutual TLS (mode 2) with the certificate for milvus.test only."""
    return milvus_harness.get(
        tls_args(2, pki.server_named, pki.ca), ready_check=tls_ready_check(pki.ca, OVERRIDE_NAME, pki.client)
    )


# ------------------------------------------------------------------------------------------------ setup over TLS
@contextmanager
def setup_client(**tls: Any) -> Iterator[Any]:
    from pymilvus import MilvusClient

    # dedicated: pymilvus shares connections per address, and would reuse one made with another mode's TLS material.
    client = MilvusClient(uri=f"https://{ADDRESS}", dedicated=True, **tls)
    try:
        yield client
    finally:
        client.close()


def create_collection(**tls: Any) -> str:
    from pymilvus import DataType

    name = f"tls_{uuid.uuid4().hex[:10]}"
    with setup_client(**tls) as client:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
        client.create_collection(name, schema=schema)  # not loaded: an Import does not need it (~2.5 s)
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_index(name, index_params)
    return name


def count_rows(collection: str, **tls: Any) -> int:
    with setup_client(**tls) as client:
        client.flush(collection)
        return int(client.get_collection_stats(collection)["row_count"])


def import_and_check(client: pi.ImportClient, server: MilvusServer, collection: str, rows: int) -> None:
    path = helpers.write_json_rows(server.data_dir / "tls" / f"{uuid.uuid4().hex[:8]}.json", rows)
    response = client.bulk_import(pi.new_bulk_import_option("", collection, [[path]]), timeout=30)
    (final,) = client.wait_for_import(response, timeout=120)
    assert final.state == "Completed", final
    assert final.imported_rows == rows
    jobs = client.list_import_jobs(collection, timeout=10)
    assert [job.job_id for job in jobs] == [response.job_id], "exactly one job on the server"


def expect_unavailable(make: Callable[[], pi.ImportClient]) -> pi.ServerUnavailableError:
    """The client fails clearly and quickly, on the first RPC and on an Import; nothing is created."""
    with make() as client:
        started = time.monotonic()
        with pytest.raises(pi.ServerUnavailableError) as err:
            client.server_version(timeout=FAIL_TIMEOUT)
        assert time.monotonic() - started < FAIL_TIMEOUT + SLACK
        started = time.monotonic()
        option = pi.new_bulk_import_option("", "tls_nothing", [["/nowhere/rows.json"]])
        with pytest.raises(pi.ServerUnavailableError):
            client.bulk_import(option, timeout=FAIL_TIMEOUT)
        assert time.monotonic() - started < FAIL_TIMEOUT + SLACK
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert str(err.value)
    return err.value


def mentions_tls(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("ssl", "tls", "handshake", "certificate", "hostname verification"))


# ------------------------------------------------------------------------------------------------ mode 1
def test_server_tls_with_a_ca_file_imports_rows(tls_server: MilvusServer, pki: PKI) -> None:
    collection = create_collection(server_pem_path=str(pki.ca))
    with pi.ImportClient(f"https://{ADDRESS}", ca_cert=pki.ca) as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"
        import_and_check(client, tls_server, collection, 700)
    assert count_rows(collection, server_pem_path=str(pki.ca)) == 700


@pytest.mark.parametrize(
    "make",
    [
        lambda pki: pi.ImportClient(f"https://{ADDRESS}", ca_cert=pki.ca.read_bytes()),  # PEM bytes
        lambda pki: pi.ImportClient("https://localhost:19530", ca_cert=str(pki.ca)),  # the DNS name in the cert
        lambda pki: pi.ImportClient(f"http://{ADDRESS}", secure=True, ca_cert=pki.ca),  # secure=True
        lambda pki: pi.ImportClient(ADDRESS, ca_cert=pki.ca),  # TLS implied by ca_cert
    ],
    ids=["ca-bytes", "localhost", "secure-true", "implied-by-ca"],
)
def test_server_tls_connection_forms(tls_server: MilvusServer, pki: PKI, make: Callable[[PKI], Any]) -> None:
    with make(pki) as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"
        assert isinstance(client.list_import_jobs(timeout=10), list)


def test_server_tls_wrong_ca_fails_clearly(tls_server: MilvusServer, pki: PKI) -> None:
    error = expect_unavailable(lambda: pi.ImportClient(f"https://{ADDRESS}", ca_cert=pki.rogue_ca, retry=FAST))
    assert mentions_tls(error), str(error)


def test_server_tls_system_roots_fail_clearly(tls_server: MilvusServer) -> None:
    error = expect_unavailable(lambda: pi.ImportClient(f"https://{ADDRESS}", retry=FAST))
    assert mentions_tls(error), str(error)


def test_server_tls_plaintext_client_fails_clearly(tls_server: MilvusServer) -> None:
    expect_unavailable(lambda: pi.ImportClient(f"http://{ADDRESS}", retry=FAST))


def test_server_tls_server_name_override_is_honoured(tls_server: MilvusServer, pki: PKI) -> None:
    # The certificate covers 127.0.0.1, so only the override can make the check fail: it is the name checked.
    error = expect_unavailable(
        lambda: pi.ImportClient(f"https://{ADDRESS}", ca_cert=pki.ca, server_name="wrong.test", retry=FAST)
    )
    assert mentions_tls(error), str(error)
    with pi.ImportClient(f"https://{ADDRESS}", ca_cert=pki.ca, server_name="localhost") as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"


# ------------------------------------------------------------------------------------------------ mode 2
def mtls(pki: PKI, **overrides: Any) -> pi.ImportClient:
    arguments: dict[str, Any] = {
        "ca_cert": pki.ca,
        "client_cert": pki.client.cert,
        "client_key": pki.client.key,
        "server_name": OVERRIDE_NAME,
    }
    arguments.update(overrides)
    return pi.ImportClient(f"https://{ADDRESS}", retry=FAST, **{k: v for k, v in arguments.items() if v is not None})


PYMILVUS_MTLS = {"server_name": OVERRIDE_NAME}


def test_mutual_tls_imports_rows(mtls_server: MilvusServer, pki: PKI) -> None:
    setup = {
        **PYMILVUS_MTLS,
        "ca_pem_path": str(pki.ca),
        "client_pem_path": str(pki.client.cert),
        "client_key_path": str(pki.client.key),
    }
    collection = create_collection(**setup)
    with mtls(pki) as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"
        import_and_check(client, mtls_server, collection, 500)
    assert count_rows(collection, **setup) == 500


def test_mutual_tls_with_pem_bytes(mtls_server: MilvusServer, pki: PKI) -> None:
    make = lambda: mtls(  # noqa: E731
        pki,
        ca_cert=pki.ca.read_bytes(),
        client_cert=pki.client.cert.read_bytes(),
        client_key=pki.client.key.read_bytes(),
    )
    with make() as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"


def test_mutual_tls_server_name_override_is_needed_and_used(mtls_server: MilvusServer, pki: PKI) -> None:
    # The certificate names only milvus.test: dialling 127.0.0.1 works only through the override.
    error = expect_unavailable(lambda: mtls(pki, server_name=None))
    assert mentions_tls(error), str(error)
    with mtls(pki) as client:
        assert client.server_version(timeout=10) == "v2.3.5-lite"


def test_mutual_tls_missing_client_certificate_fails_clearly(mtls_server: MilvusServer, pki: PKI) -> None:
    expect_unavailable(lambda: mtls(pki, client_cert=None, client_key=None))


def test_mutual_tls_client_certificate_from_another_ca_fails_clearly(mtls_server: MilvusServer, pki: PKI) -> None:
    expect_unavailable(lambda: mtls(pki, client_cert=pki.rogue_client.cert, client_key=pki.rogue_client.key))


def test_mutual_tls_wrong_ca_fails_clearly(mtls_server: MilvusServer, pki: PKI) -> None:
    error = expect_unavailable(lambda: mtls(pki, ca_cert=pki.rogue_ca))
    assert mentions_tls(error), str(error)


def test_mutual_tls_plaintext_client_fails_clearly(mtls_server: MilvusServer) -> None:
    expect_unavailable(lambda: pi.ImportClient(f"http://{ADDRESS}", retry=FAST))
