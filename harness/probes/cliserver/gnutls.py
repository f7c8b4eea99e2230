"""GnuTLS server program: one ``gnutls-serv`` (Debian: gnutls-bin) per listener.

    gnutls-serv --x509certfile CHAIN --x509keyfile KEY -p PORT --priority PRIO
                --disable-client-cert --quiet

A listener's groups go into the priority string (``:-GROUP-ALL:+GROUP-X25519-MLKEM768``). gnutls-serv
starts with a priority it cannot parse and fails each connection instead, so the string is checked
first with ``gnutls-cli -l --priority`` (the same library, from the same package).
"""
from __future__ import annotations

import functools
import sys

if __package__ in (None, ""):  # pragma: no cover - run as a file, not with -m
    sys.exit("run as: python3 -m tlsmatrix.probes.cliserver.gnutls")

from .supervisor import ListenerError, Stack, dpkg_version, main, run_tool, which
from ..jsonlines import gnutls_priority

PRIORITIES = {
    "1.2": "NORMAL:-VERS-ALL:+VERS-TLS1.2",
    "1.3": "NORMAL:-VERS-ALL:+VERS-TLS1.3",
    None: "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",  # contract: null = 1.2 and 1.3
}


@functools.lru_cache(maxsize=None)
def _priority_error(priority: str) -> str | None:
    """Why this GnuTLS cannot use ``priority``, in its words (checked once per priority: the listeners of
    a run share a few), or None."""
    try:
        check = run_tool([which("gnutls-cli") or "gnutls-cli", "-l", "--priority", priority])
    except (OSError, ValueError) as exc:
        return f"cannot check the priority {priority!r} with gnutls-cli: {exc}"
    error = next((line for line in (check.stdout + check.stderr).splitlines() if "error" in line.lower()), None)
    return f"unsupported group: {error} (priority {priority})" if error else None


class GnuTLS(Stack):
    name = "GnuTLS"
    program = "gnutls-serv"
    module = "gnutls"
    log_prefix = "tlsmatrix-gnutls-server"

    def hello(self) -> dict:
        first = ""
        try:
            first = (run_tool([which(self.program) or self.program, "--version"]).stdout.splitlines() or [""])[0]
        except (OSError, ValueError) as exc:
            first = f"unknown ({exc})"
        version = first.split()[-1] if first.startswith("gnutls-serv ") else first or None
        details = {"gnutls-serv": first}
        package = dpkg_version("libgnutls30")
        if package:
            details["libgnutls30"] = package
        return {"hello": {"stack": self.name, "version": version, "provider": None, "details": details}}

    def prepare(self, spec: dict, workdir: str) -> object:
        version = spec.get("tls_version")
        if version not in PRIORITIES:
            raise ListenerError(f"unsupported tls_version {version!r}")
        for key in ("cert_file", "key_file"):
            if not isinstance(spec.get(key), str):
                raise ListenerError(f"listener without {key}")
        return self.with_groups(PRIORITIES[version], spec.get("groups"))

    def with_groups(self, priority: str, groups: object) -> str:
        """The priority restricted to a listener's groups; ListenerError 'unsupported group: …' in
        GnuTLS' words when this GnuTLS cannot parse it."""
        if not groups:
            return priority
        if not isinstance(groups, list):
            raise ListenerError(f"groups must be a list, got {groups!r}")
        try:
            priority = gnutls_priority(priority, groups)
        except ValueError as exc:
            raise ListenerError(str(exc)) from None
        error = _priority_error(priority)
        if error:
            raise ListenerError(error)
        return priority

    def gave_up(self, output: list[str]) -> bool:
        # gnutls-serv keeps running when every bind failed ("... port N...bind() failed: ...")
        tries = [line for line in output if " listening on " in line]
        return bool(tries) and not any(line.endswith("...done") for line in tries) \
            and any("failed" in line for line in tries)

    def command(self, spec: dict, prepared: object, port: int) -> list[str]:
        return [
            which(self.program) or self.program,
            "--x509certfile", spec["cert_file"],
            "--x509keyfile", spec["key_file"],
            "-p", str(port),
            "--priority", str(prepared),
            "--disable-client-cert",
            "--quiet",
        ]


if __name__ == "__main__":
    sys.exit(main(GnuTLS()))
