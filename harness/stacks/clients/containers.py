"""Versioned stacks: each Debian release's own client and server stacks, in one image per release.

``openssl@1.1.1`` is CPython's ssl on bullseye's OpenSSL 1.1.1, ``go@1.24`` trixie's Go, and so on
(issue 12): the unqualified columns stay the host's. The image (harness/images/clients/Dockerfile,
built by ``make images`` / ``tlsmatrix images clients-<release>``) holds the probes and the server
programs. A client column's program is a relay (harness/stacks/clients/relay.py)::

    python -m tlsmatrix.stacks.clients.relay <column>

which starts ``docker run --rm -i --network NET IMAGE <probe argv>`` and passes the JSON lines
through both ways. NET is the host's network (the probe reaches the process backend's 127.0.0.1
listeners and `tlsmatrix probe` targets), or in a docker-backend run the run's internal network
(NETWORK_ENV), where it reaches the server containers directly. Each job's certificate files are
copied into the container (Docker's archive API: no bind mount, no host path inside; the job's
paths are rewritten to the copies). The hello gains the image (``details.image``) so results say
which build answered. The versioned servers (``openssl@1.1.1``, ...) run their release's image
with the docker backend.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ...model import __version__
from .. import ImageSpec, Stack, python_module

CLIENT_IMAGE_PREFIX = "tlsmatrix/clients-"
DOCKERFILE = "harness/images/clients/Dockerfile"
#: what the image copies (its hash covers exactly these)
SOURCES = ("harness/probes/jsonlines.py", "harness/probes/pyssl", "harness/probes/cliclient", "harness/probes/cliserver",
           "harness/probes/go", "harness/probes/java/Probe.java", "harness/probes/node/probe.mjs",
           "harness/probes/cprobe", *(f"harness/probes/{c}/probe.c" for c in ("wolfssl", "gnutls", "nss", "libcurl")))
#: the job fields that name files the probe reads
FILE_FIELDS = ("ca_file", "client_cert_file", "client_key_file")
IN_CONTAINER = "/tmp/tlsmatrix-files"
RELAY = "tlsmatrix.stacks.clients.relay"
#: set by a docker-backend run: the relay starts its container on the run's internal network (the
#: servers' containers are there); otherwise on the host's network, to reach 127.0.0.1 listeners
NETWORK_ENV = "TLSMATRIX_DOCKER_NETWORK"


@dataclass(frozen=True)
class ClientImageSpec(ImageSpec):
    """The client image of one Debian release (``stack`` is the release)."""

    @property
    def tag(self) -> str:
        return f"{CLIENT_IMAGE_PREFIX}{self.stack}:{__version__}"


#: release -> (Go, JDK, {stack: its version in that release's packages, as the column names it})
RELEASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "bullseye": ("1.15", "11", {"openssl": "1.1.1", "gnutls": "3.7.1", "nss": "3.61", "curl": "7.74",
                                "go": "1.15", "java": "11", "node": "12", "wolfssl": "4.6"}),
    "bookworm": ("1.19", "17", {"openssl": "3.0", "gnutls": "3.7.9", "nss": "3.87", "curl": "7.88",
                                "go": "1.19", "java": "17", "node": "18", "wolfssl": "5.5"}),
    "trixie": ("1.24", "21", {"openssl": "3.5", "gnutls": "3.8", "nss": "3.110", "curl": "8.14",
                              "go": "1.24", "java": "21", "node": "20", "wolfssl": "5.7"}),
}

#: the probe and server programs that apply a group setting (the host's descriptors say it per stack)
KX_PROBES = frozenset({"openssl", "go", "node", "openssl-cli", "nss", "tstclnt", "java", "gnutls", "gnutls-cli",
                       "libcurl", "curl", "wolfssl"})
#: the client probes that send key shares for exactly the groups a setting marks (OpenSSL 3.5's '*' syntax;
#: wolfSSL_UseKeyShare; NSS: the first groups of the list only)
KEY_SHARE_PROBES = frozenset({"openssl", "node", "openssl-cli", "curl", "nss", "wolfssl"})

#: stack -> (family, column prefix, the probe's argv inside the image, description)
PROBES: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "openssl": ("openssl", "openssl", ("python3", "-u", "-m", "harness.probes.pyssl.client"),
                "OpenSSL {v} through CPython's ssl module"),
    "go": ("go", "go", ("/opt/tlsmatrix/bin/tlsmatrix-go-client",), "Go {v} crypto/tls client"),
    "java": ("java", "java", ("java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", "/opt/tlsmatrix/java",
                              "Probe"), "Java {v} JSSE (SunJSSE)"),
    "node": ("node", "node", ("node", "/opt/tlsmatrix/harness/probes/node/probe.mjs"), "Node.js {v} tls"),
    "gnutls": ("gnutls", "gnutls", ("/opt/tlsmatrix/bin/tlsmatrix-gnutls-probe",), "GnuTLS {v} (libgnutls) C probe"),
    "gnutls-cli": ("gnutls", "gnutls-cli", ("python3", "-u", "-m", "harness.probes.cliclient.gnutls"),
               "GnuTLS {v} gnutls-cli, one process per handshake"),
    "nss": ("nss", "nss", ("/opt/tlsmatrix/bin/tlsmatrix-nss-probe",), "NSS {v} (libnss3/libssl3) C probe"),
    "tstclnt": ("nss", "tstclnt", ("python3", "-u", "-m", "harness.probes.cliclient.nss"), "NSS {v} tstclnt"),
    "libcurl": ("curl", "libcurl", ("/opt/tlsmatrix/bin/tlsmatrix-libcurl-probe",), "libcurl {v} (on OpenSSL) C probe"),
    "curl": ("curl", "curl", ("python3", "-u", "-m", "harness.probes.cliclient.curl"), "curl {v} command (on OpenSSL)"),
    "openssl-cli": ("openssl", "openssl-cli", ("python3", "-u", "-m", "harness.probes.cliclient.openssl_cli"),
                    "openssl {v} s_client -verify_return_error"),
    "wolfssl": ("wolfssl", "wolfssl", ("/opt/tlsmatrix/bin/tlsmatrix-wolfssl-probe",), "wolfSSL {v} (libwolfssl)"),
}


def _image_spec(release: str) -> ClientImageSpec:
    go, jdk, _ = RELEASES[release]
    return ClientImageSpec(release, DOCKERFILE, SOURCES,
                           buildargs={"BASE": f"debian:{release}-slim", "GO": go, "JDK": jdk})


#: image name (`tlsmatrix images clients-bullseye`) -> its spec
CLIENT_IMAGES: dict[str, ClientImageSpec] = {f"clients-{r}": _image_spec(r) for r in RELEASES}


@dataclass(frozen=True)
class Versioned:
    """What a versioned column is beyond its Stack: where it runs and which image holds it."""

    column: str
    stack: str
    version: str
    release: str

    @property
    def image(self) -> str:
        return CLIENT_IMAGES[f"clients-{self.release}"].tag

    @property
    def argv(self) -> tuple[str, ...]:
        return PROBES[self.stack][2]


#: command-line columns named by their tool, versioned by their library
_LIBRARY = {"openssl-cli": "openssl", "gnutls-cli": "gnutls", "tstclnt": "nss", "libcurl": "curl"}


def _columns() -> dict[str, Versioned]:
    out: dict[str, Versioned] = {}
    for stack, (_, prefix, _, _) in PROBES.items():
        for release, (_, _, versions) in RELEASES.items():
            version = versions[_LIBRARY.get(stack, stack)]
            out[f"{prefix}@{version}"] = Versioned(f"{prefix}@{version}", stack, version, release)
    return out


#: column -> where it runs, in column order (stack by stack, oldest release first)
VERSIONED: dict[str, Versioned] = _columns()


@lru_cache(maxsize=1)
def _present_images() -> frozenset[str] | str:
    """The tags of the client images on the engine, or why the engine cannot say (cached per process)."""
    try:
        from ..engine import docker_client

        client = docker_client(timeout=10)
        return frozenset(t for image in client.images.list(name=CLIENT_IMAGE_PREFIX + "*") for t in image.tags)
    except Exception as exc:  # DockerUnavailable, or an engine error
        return f"needs Docker ({str(exc).splitlines()[0][:200]})"


def image_missing(v: Versioned) -> str | None:
    present = _present_images()
    if isinstance(present, str):
        return present
    if v.image not in present:
        return f"image {v.image} is not built: run `make images` (or `tlsmatrix images clients-{v.release}`)"
    return None


def _stack(v: Versioned) -> Stack:
    family, _, _, description = PROBES[v.stack]
    return Stack(v.column, family, f"{description.format(v=v.version)}, Debian {v.release} (container)",
                 argv=(lambda: [*python_module(RELAY)(), v.column]), missing=lambda: image_missing(v), container=v.image,
                 client_auth=v.stack in ("openssl", "go", "java", "node", "gnutls"), groups=v.stack in KX_PROBES,
                 key_shares=v.stack in KEY_SHARE_PROBES)


def versioned_clients() -> dict[str, Stack]:
    """The versioned client columns, for harness/stacks/clients CLIENTS."""
    return {name: _stack(v) for name, v in VERSIONED.items()}


#: server stack -> (family, its program's argv in the release's image, description, extra run options,
#: mTLS): the same server programs as the host's (harness/stacks/servers), in each release's image; TLS only
#: (the Kubernetes app stays with the host's go server)
SERVER_PROGRAMS: dict[str, tuple[str, tuple[str, ...], str, dict, bool]] = {
    "openssl": ("openssl", ("python3", "-u", "-m", "harness.probes.pyssl.server"),
                "OpenSSL {v} through CPython's ssl module", {}, True),
    "go": ("go", ("/opt/tlsmatrix/bin/tlsmatrix-go-server",), "Go {v} crypto/tls server", {}, True),
    "gnutls": ("gnutls", ("python3", "-u", "-m", "harness.probes.cliserver.gnutls"),
               "GnuTLS {v} gnutls-serv, one per listener, behind a loopback relay", {}, False),
    # selfserv binds through NSPR's loopback lookup, which needs IPv6 up inside the container
    "nss": ("nss", ("python3", "-u", "-m", "harness.probes.cliserver.nss"), "NSS {v} selfserv, one per listener",
            {"sysctls": {"net.ipv6.conf.all.disable_ipv6": "0"}}, False),
}


def _server(stack: str, release: str) -> Stack:
    family, argv, description, run_options, client_auth = SERVER_PROGRAMS[stack]
    version = RELEASES[release][2][stack]
    image = replace(CLIENT_IMAGES[f"clients-{release}"], command=argv, run_options=run_options)
    why = f"runs in Debian {release}'s image only: use --backend docker (the image: make images)"
    return Stack(f"{stack}@{version}", family, f"{description.format(v=version)}, Debian {release} (container)",
                 role="server", argv=lambda: list(argv), missing=lambda: why, image=image, client_auth=client_auth,
                 groups=stack in KX_PROBES)


def versioned_servers() -> dict[str, Stack]:
    """The versioned server stacks (docker backend only), for harness/stacks/servers SERVERS: stack by
    stack, oldest release first."""
    return {s.name: s for s in (_server(stack, release) for stack in SERVER_PROGRAMS for release in RELEASES)}


