"""Native reproduction commands: a client stack's own command line for one cell.

A reproduction bundle (harness/report/bundle.py, REPRODUCE.md) shows, next to tlsmatrix's probe, the
command a person would type with the stack itself (``openssl s_client``, ``curl``,
``gnutls-cli``, ``tstclnt``, a Python one-liner). A client descriptor names its line function
(``Stack.native``); the bundle fills a :class:`NativeCell` from the cell's record, so these
functions do not depend on the results document's shape.
"""
from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class NativeCell:
    """What a native command line needs to know about a cell."""

    servername: str
    tls: str | None  # "1.2" or "1.3" when the cell pins a version, else None
    host: str
    port: int
    #: (certificate file, key file) the client presents in an mTLS cell, else None
    client_cert: tuple[str, str] | None = None


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def s_client_line(cell: NativeCell, ca: str = "ca.pem") -> str:
    name = cell.servername
    argv = ["openssl", "s_client", "-connect", f"{cell.host}:{cell.port}", "-CAfile", ca, "-no-CApath", "-no-CAstore",
            "-verify_return_error"]
    argv += ["-noservername", "-verify_ip", name] if is_ip(name) else ["-servername", name, "-verify_hostname", name]
    argv += [*{"1.2": ["-tls1_2"], "1.3": ["-tls1_3"]}.get(cell.tls or "", []), "-brief"]
    if cell.client_cert:
        argv += ["-cert", cell.client_cert[0], "-key", cell.client_cert[1]]
    return shlex.join(argv) + " </dev/null"


def curl_line(cell: NativeCell) -> str:
    url_host = f"[{cell.servername}]" if ":" in cell.servername else cell.servername
    port = cell.port
    argv = ["curl", "-q", "-sS", "-v", "--noproxy", "*", "--cacert", "ca.pem", "--capath", "empty-capath",
            "--connect-to", f"{url_host}:{port}:{cell.host}:{port}"]
    argv += {"1.2": ["--tlsv1.2", "--tls-max", "1.2"], "1.3": ["--tlsv1.3", "--tls-max", "1.3"]}.get(cell.tls or "", [])
    argv += ["-o", "/dev/null", f"https://{url_host}:{port}/"]
    return "mkdir -p empty-capath   # Debian's curl has a built-in CApath: point it at an empty directory\n" \
           + shlex.join(argv)


def gnutls_line(cell: NativeCell) -> str:
    name = cell.servername
    argv = ["gnutls-cli", "--x509cafile", "ca.pem", "--verify-hostname", name]
    argv += ["--disable-sni"] if is_ip(name) else ["--sni-hostname", name]
    if cell.tls:
        argv += ["--priority", f"NORMAL:-VERS-ALL:+VERS-TLS{cell.tls}"]
    argv += ["-p", str(cell.port), cell.host]
    return shlex.join(argv) + " </dev/null"


def nss_lines(cell: NativeCell) -> str:
    argv = ["tstclnt", "-Q", "-v", "-h", cell.host, "-p", str(cell.port), "-d", "sql:nssdb", "-a", cell.servername]
    if cell.tls:
        argv += ["-V", f"tls{cell.tls}:tls{cell.tls}"]
    return ("rm -rf nssdb && mkdir nssdb && certutil -N -d sql:nssdb --empty-password\n"
            "certutil -A -d sql:nssdb -n tlsmatrix-ca -t C,, -a -i ca.pem\n" + shlex.join(argv) + " </dev/null")


def python_line(cell: NativeCell) -> str:
    pin = (f"c.minimum_version=c.maximum_version=ssl.TLSVersion.TLSv1_{cell.tls[-1]}; " if cell.tls
           else "c.minimum_version=ssl.TLSVersion.TLSv1_2; ")
    code = ("import socket, ssl; c=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.load_verify_locations('ca.pem'); "
            + pin + f"s=c.wrap_socket(socket.create_connection(('{cell.host}', {cell.port})), "
            f"server_hostname='{cell.servername}'); print(s.version(), s.cipher())")
    return "python3 -c " + shlex.quote(code)
