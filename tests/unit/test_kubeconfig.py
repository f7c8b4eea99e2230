from __future__ import annotations

import base64
import stat

import pytest
import yaml

from tlsmatrix.stacks.classify import classify_error
from tlsmatrix.certs.kubeconfig import KubeconfigError, file_name, kubeconfig_document, write_kubeconfig
from tlsmatrix.model.core import Outcome


def test_kubeconfig_holds_server_ca_name_and_client_certificate(tmp_path):
    (tmp_path / "ca.pem").write_bytes(b"CA PEM")
    (tmp_path / "c.pem").write_bytes(b"CLIENT PEM")
    (tmp_path / "k.pem").write_bytes(b"KEY PEM")
    doc = kubeconfig_document("127.0.0.1", 6443, tmp_path / "ca.pem", "localhost", tmp_path / "c.pem",
                              tmp_path / "k.pem")
    path = write_kubeconfig(tmp_path / "out" / "kc.yaml", doc, note="line one\nline two")
    text = path.read_text()
    assert text.startswith("# tlsmatrix TEST-ONLY kubeconfig") and "# line two\n" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = yaml.safe_load(text)
    cluster = loaded["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443" and cluster["tls-server-name"] == "localhost"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA PEM"
    user = loaded["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CLIENT PEM"
    assert base64.b64decode(user["client-key-data"]) == b"KEY PEM"
    assert loaded["current-context"] == loaded["contexts"][0]["name"]
    assert loaded["contexts"][0]["context"]["namespace"] == "default"
    assert [p.name for p in path.parent.iterdir()] == ["kc.yaml"]  # no temporary file left


def test_without_client_certificate_the_user_is_empty(tmp_path):
    (tmp_path / "ca.pem").write_bytes(b"CA")
    doc = kubeconfig_document("::1", 443, tmp_path / "ca.pem")
    assert doc["clusters"][0]["cluster"]["server"] == "https://[::1]:443"
    assert "tls-server-name" not in doc["clusters"][0]["cluster"]
    assert doc["users"][0]["user"] == {}


def test_errors_name_the_file(tmp_path):
    with pytest.raises(KubeconfigError, match="cannot read CA file .*missing.pem"):
        kubeconfig_document("127.0.0.1", 1, tmp_path / "missing.pem")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    with pytest.raises(KubeconfigError, match="needs its key"):
        kubeconfig_document("127.0.0.1", 1, tmp_path / "ca.pem", client_cert_file=tmp_path / "ca.pem")
    (tmp_path / "file").write_text("x")
    with pytest.raises(KubeconfigError, match="cannot write kubeconfig .*file/kc.yaml"):
        write_kubeconfig(tmp_path / "file" / "kc.yaml", {})


def test_file_names_are_readable_and_distinct():
    assert file_name("CA signature: P-521 → P-256", "1.3", "go") == "CA-signature-P-521-to-P-256.tls1.3.go.yaml"
    assert file_name("P-256 → P-256 + client P-521", None, "go", "api.example") == \
        "P-256-to-P-256-client-P-521.tls-any.go.api.example.yaml"


@pytest.mark.parametrize("error, code", [
    ('ApiError: pods is forbidden: User "system:anonymous" cannot list resource "pods": Forbidden '
     '(ErrorResponse { status: "Failure", message: "pods is forbidden", reason: "Forbidden", code: 403 })', "403"),
    ("ApiError: Unauthorized: Unauthorized (ErrorResponse { status: \"Failure\", code: 401 })", "401"),
    ("(403)\nReason: Forbidden\nHTTP response headers: HTTPHeaderDict({})\nHTTP response body: {}", "403"),
    ("(401)\nReason: Unauthorized\n", "401"),
])
def test_an_api_refusal_after_the_handshake_is_tls_ok(error, code):
    c = classify_error("kube", error)
    assert c.outcome is Outcome.OK and c.short == f"TLS ok; API answered HTTP {code}"
    assert classify_error("openssl", error).outcome is Outcome.OK


@pytest.mark.parametrize("error", [
    "ServiceError: client error (Connect): invalid peer certificate: UnknownIssuer",
    "(500)\nReason: Internal Server Error\n",
    "ApiError: the server could not find the requested resource: NotFound (ErrorResponse { code: 404 })",
])
def test_other_api_and_tls_errors_are_not_ok(error):
    assert classify_error("kube", error).outcome is not Outcome.OK


def test_an_api_refusal_despite_a_client_certificate_is_a_failure():
    from tlsmatrix.stacks.classify import classify
    from tlsmatrix.model.core import HandshakeResult

    raw = HandshakeResult(ok=False, error="(403)\nReason: Forbidden\n")
    assert classify("openssl", raw).outcome is Outcome.OK
    c = classify("openssl", raw, client_cert=True)
    assert c.outcome is Outcome.HANDSHAKE_FAILURE and c.short == "client certificate not used: TLS ok; API answered HTTP 403"


def test_remove_kubeconfigs_deletes_only_its_own_files(tmp_path):
    from tlsmatrix.certs.kubeconfig import remove_kubeconfigs

    (tmp_path / "ca.pem").write_bytes(b"CA")
    d = tmp_path / "kc"
    write_kubeconfig(d / "a.yaml", kubeconfig_document("127.0.0.1", 1, tmp_path / "ca.pem"))
    write_kubeconfig(d / "b.yaml", kubeconfig_document("127.0.0.1", 2, tmp_path / "ca.pem"))
    (d / "mine.yaml").write_text("apiVersion: v1\n")  # a user's file
    assert remove_kubeconfigs(d) == 2
    assert [p.name for p in d.iterdir()] == ["mine.yaml"]
    (d / "mine.yaml").unlink()
    assert remove_kubeconfigs(d) == 0 and not d.exists()
    assert remove_kubeconfigs(tmp_path / "missing") == 0
