"""`--kubeconfig FILE --context NAME` for probe, diagnose and replay (issue 19): the server, its CA, the
server name and the client credentials come from the kubeconfig as kubectl reads them, and no credential
(the client key, the token) reaches any output.

The cluster is a Kubernetes-like API (the Go server's app "kubernetes") that verifies client
certificates against the cluster CA: anonymous clients get 403, so a Kubernetes client that lists the
pods used the kubeconfig's certificate.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec
from tlsmatrix.stacks.servers import SERVERS

from ..conftest import require_stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tlsmatrix-TEST-ONLY-token-3f9c2a"  # a bearer token that must not appear in any output
KUBE = ["kube-0.94-aws-lc-rs", "kube-latest-aws-lc-rs", "kubernetes-python"]
TLS = [c for c in TLS_CLIENTS if "@" not in c]


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def cluster(pki_cache, tmp_path_factory):
    """(kubeconfig path, the chain files): a context "test" with inline data, and a decoy current-context."""
    require_stack(SERVERS["go"])
    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256")),
                                      client_cert=KeySpec("P-256")))
    d = tmp_path_factory.mktemp("kube")
    with ProcessEndpoint(SERVERS["go"], [ListenerSpec("K", files, None, "kubernetes")]) as ep:
        port = ep.listeners["K"].port
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "decoy",
               "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                      "certificate-authority-data": _b64(files.ca_file),
                                                      "tls-server-name": "localhost"}},
                            {"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1",
                                                              "certificate-authority-data": _b64(files.ca_file)}}],
               "users": [{"name": "u", "user": {"client-certificate-data": _b64(files.client_cert_file),
                                                "client-key-data": _b64(files.client_key_file), "token": TOKEN}}],
               "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u", "namespace": "default"}},
                            {"name": "decoy", "context": {"cluster": "elsewhere", "user": "u"}}]}
        path = d / "kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        yield path, files


def tlsmatrix(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tlsmatrix", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TLSMATRIX_RESULTS_DIR=str(tmp_path)))


def _secrets(files) -> list[str]:
    key_body = "".join(files.client_key_file.read_text().splitlines()[1:-1])
    return [TOKEN, key_body[:40], key_body[-40:], base64.b64encode(files.client_key_file.read_bytes()).decode()[:40]]


def test_probe_reaches_the_cluster_with_every_stack_and_leaks_nothing(cluster, tmp_path):
    path, files = cluster
    for name in KUBE:
        require_stack(CLIENTS[name])
    r = tlsmatrix(tmp_path, "probe", "--kubeconfig", str(path), "--context", "test", "--format", "json",
                  "--clients", ",".join([*TLS, *KUBE]), "--save-chain", str(tmp_path / "chain.pem"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    got = {x["client"]: x for x in doc["results"]}
    assert doc["context"] == "test" and doc["servername"] == "localhost" and doc["target"].startswith("127.0.0.1:")
    for name in TLS:
        expected = "ok" if CLIENTS[name].client_auth else "skipped"  # the others cannot present a certificate
        assert got[name]["outcome"] == expected, got[name]
    for name in KUBE:  # the pods were listed: the certificate was used (anonymous is refused with 403)
        assert got[name]["outcome"] == "ok" and got[name]["error"] is None, got[name]
    artefacts = [r.stdout, r.stderr, (tmp_path / "chain.pem").read_text()]
    artefacts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    for secret in _secrets(files):
        assert all(secret not in text for text in artefacts), "a credential reached an artefact"


def test_the_table_output_leaks_nothing_either(cluster, tmp_path):
    path, files = cluster
    r = tlsmatrix(tmp_path, "probe", "--kubeconfig", str(path), "--context", "test", "--clients", "openssl,go")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and all(s not in r.stdout + r.stderr for s in _secrets(files))


def test_diagnose_and_replay_take_the_cluster_from_the_kubeconfig(cluster, tmp_path):
    path, files = cluster
    r = tlsmatrix(tmp_path, "diagnose", "--kubeconfig", str(path), "--context", "test", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"diagnosis": []}
    r = tlsmatrix(tmp_path, "replay", "--chain", str(files.cert_file), "--kubeconfig", str(path), "--context", "test",
                  "--clients", "openssl,rustls-ring,go", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert {x["outcome"] for x in json.loads(r.stdout)["results"]} == {"chain_ok"}
    assert all(s not in r.stdout for s in _secrets(files))


def test_the_current_context_is_the_default_and_bad_kubeconfigs_are_exit_2(cluster, tmp_path):
    path, _ = cluster
    r = tlsmatrix(tmp_path, "probe", "--kubeconfig", str(path), "--clients", "openssl", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["outcome"] == "connection"  # decoy: port 1
    for args, words in ((["--context", "nope"], "contexts has no entry named 'nope' (known: test, decoy)"),
                        (["--kubeconfig", str(tmp_path / "missing")], "cannot read kubeconfig")):
        kubeconfig = [] if args[0] == "--kubeconfig" else ["--kubeconfig", str(path)]
        r = tlsmatrix(tmp_path, "probe", *kubeconfig, *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "nokey").write_text(yaml.safe_dump({"current-context": "x", "contexts": [{"name": "x", "context": {
        "cluster": "c"}}], "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}]}))
    r = tlsmatrix(tmp_path, "probe", "--kubeconfig", str(tmp_path / "nokey"))
    assert r.returncode == 2 and "has no certificate-authority" in r.stderr
