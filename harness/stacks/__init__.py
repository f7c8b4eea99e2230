"""The stack descriptor: everything tlsmatrix knows about one client or server stack, in one entry.

The registries hold one :class:`Stack` per stack (harness/stacks/clients ``CLIENTS``, harness/stacks/servers
``SERVERS``), and the rest is derived from them: the build target that makes a stack's program
is named here (harness/stacks/build.py ``TARGETS`` says only how to build it), the docker backend's
``IMAGES``, the apps a scenario may ask for (``scenarios.APP_SERVERS``), the bundle's reproduction
tables (``bundle.PROBES``, ``SERVER_PROGRAMS``, the native command lines) and the Debian
packages ``make toolchains`` installs (``tlsmatrix list --packages``). The classification
table stays in harness/stacks/classify.py, keyed by the descriptor's ``family``.

Adding a stack: docs/adding-a-stack.md.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Union

from ..model import __version__
from .build import TARGETS, not_built, output_path
from .toolchain import Debian, PythonPackage
from ..model.paths import in_checkout_hint

if TYPE_CHECKING:
    from .native import NativeCell

Role = Literal["client", "server"]
#: what a stack needs installed; checked in order, the first one missing makes it unavailable
Requirement = Union[Debian, PythonPackage]

IMAGE_PREFIX = "tlsmatrix/server-"


@dataclass(frozen=True)
class ImageSpec:
    """A server stack's image for the docker backend (built by harness/images, `make images`)."""

    stack: str
    dockerfile: str  # relative to the repository root (the build context)
    sources: tuple[str, ...]  # paths whose content the image is built from
    buildargs: dict[str, str] = field(default_factory=dict)
    vendor_cargo: str | None = None  # a Cargo project among the sources to vendor for an offline build
    run_options: dict[str, Any] = field(default_factory=dict)  # extra containers.run() options
    #: the server program's argv inside the image when the image has no ENTRYPOINT for it (a
    #: versioned server runs in its release's client image); the backend appends ``--config PATH``
    command: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        return f"{IMAGE_PREFIX}{self.stack}:{__version__}"


@dataclass(frozen=True)
class Reproduce:
    """How a reproduction bundle tells a reader to run the stack's own tlsmatrix program."""

    source: str  # the program's source in the repository
    build: str | None = None  # clients: how to build it in a checkout (the bundle's "Probe programs" table)
    #: how to run it in a checkout; None: `python3 -m <module>` or `build/<the target's output>`
    command: str | None = None


@dataclass(frozen=True)
class Native:
    """A client stack's own command line for a cell (harness/stacks/native.py), shown in bundles."""

    title: str
    line: Callable[[NativeCell], str]


@dataclass(frozen=True)
class Stack:
    """One client or server stack: how to run its program, whether this machine can, how its
    errors are classified, and what bundles, images and scenarios need to know about it."""

    name: str  # the matrix column (clients) or row (servers); pinned versions carry it: rustls-ring@0.23.12
    family: str  # classification table (tlsmatrix.stacks.classify.TABLES)
    description: str  # `tlsmatrix list`
    #: argv of the program (docs/probe-contract.md); None: `python -m <module>`, else the build target's output
    argv: Callable[[], list[str]] | None = None
    #: None when runnable, else why not + how to install; None here: from `requires` and the build output
    missing: Callable[[], str | None] | None = None
    needs_app: str | None = None  # a client that speaks an application protocol (e.g. "kubernetes")
    #: mTLS: a client presents the job's client certificate; a server requires one (listener client_ca_file)
    client_auth: bool = False
    #: its program applies a group setting (job or listener ``groups``: docs/probe-contract.md); a cell
    #: that asks a stack without it for one is skipped
    groups: bool = False
    #: its program sends key shares for exactly the groups a client setting marks (``*x25519``)
    key_shares: bool = False
    role: Role = "client"
    module: str | None = None  # a Python program, run as `python -m <module>` from the checkout
    build: str | None = None  # the build target (tlsmatrix.stacks.build.TARGETS) that makes the program
    output: int = 0  # which of the build target's outputs is this stack's program
    requires: tuple[Requirement, ...] = ()  # run-time requirements (build-time ones: the target's packages)
    reproduce: Reproduce | None = None  # bundles: its tlsmatrix program outside tlsmatrix
    native: Native | None = None  # bundles (clients): the stack's own command line
    image: ImageSpec | None = None  # servers: the docker backend's image
    apps: tuple[str, ...] = ()  # servers: what they can speak after the handshake (scenario `app`)
    #: clients: the image the probe runs in (a versioned stack, harness/stacks/clients/containers.py), else None
    container: str | None = None

    def __post_init__(self) -> None:
        # the program follows from the module or the build target; a descriptor writes argv only
        # when it is neither (java, node, an adapter around a built program)
        if self.argv is None:
            if self.module is not None:
                object.__setattr__(self, "argv", python_module(self.module))
            elif self.build is not None:
                object.__setattr__(self, "argv", _built_program(self.build, self.output))
            else:
                raise ValueError(f"stack {self.name!r}: no argv, module or build target")

    def cannot_apply(self, groups: bool, key_shares: bool) -> str | None:
        """Why its program cannot apply a group setting (a list of groups; marked key shares), or None."""
        if groups and not self.groups:
            return "its tlsmatrix program cannot restrict the key-exchange groups"
        if key_shares and not self.key_shares:
            return "its tlsmatrix program cannot choose the groups it sends key shares for"
        return None

    def unavailable_reason(self) -> str | None:
        """None when this machine can run the stack, else why not and how to install it (said as this
        installation can follow it: `tlsmatrix build` where there is no Makefile)."""
        why = self._missing()
        return in_checkout_hint(why) if why else None

    def _missing(self) -> str | None:
        if self.missing is not None:
            return self.missing()
        for requirement in self.requires:
            why = requirement.missing()
            if why:
                return why
        if self.build is not None:
            return not_built(self.build, self.output)
        return None

    def debian_packages(self) -> tuple[Debian, ...]:
        """What `apt-get` installs for this stack: its run-time packages, then its build target's."""
        own = tuple(r for r in self.requires if isinstance(r, Debian))
        return own + (TARGETS[self.build].packages if self.build else ())

    def reproduction(self) -> tuple[str, str | None, str] | None:
        """(program source, how to build, the command in a checkout) for bundles, or None."""
        r = self.reproduce
        if r is None:
            return None
        command = r.command
        if command is None and self.module is not None:
            command = f"python3 -m {self.module}"
        elif command is None and self.build is not None:
            command = f"build/{TARGETS[self.build].outputs[self.output]}"
        if command is None:
            raise ValueError(f"stack {self.name!r}: reproduce needs a command (no module or build target)")
        return r.source, r.build, command


def registry(*stacks: Stack) -> dict[str, Stack]:
    """name -> descriptor, in the order given (the matrix's column order)."""
    out: dict[str, Stack] = {}
    for s in stacks:
        if s.name in out:
            raise ValueError(f"stack {s.name!r} is described twice")
        out[s.name] = s
    return out


def served_apps(servers: dict[str, Stack]) -> dict[str, tuple[str, ...]]:
    """app -> the server stacks that can speak it (scenarios.APP_SERVERS), from the descriptors' `apps`."""
    apps = dict.fromkeys(a for s in servers.values() for a in s.apps)
    return {app: tuple(n for n, s in servers.items() if app in s.apps) for app in apps}


def debian_packages(stacks: list[Stack], missing_only: bool = False) -> list[str]:
    """The Debian packages of ``stacks`` in first-use order, once each (`tlsmatrix list --packages`).
    ``missing_only``: those not installed here; one stack's check failing is enough, since two
    stacks may need different programs of one package (gnutls-cli, gnutls-serv)."""
    wanted: dict[str, bool] = {}
    for s in stacks:
        for p in s.debian_packages():
            wanted[p.package] = wanted.get(p.package, False) or not p.installed()
    return [p for p, missing in wanted.items() if missing or not missing_only]


def python_module(module: str) -> Callable[[], list[str]]:
    return lambda: [sys.executable, "-u", "-m", module]


def _built_program(target: str, index: int) -> Callable[[], list[str]]:
    def argv() -> list[str]:
        return [str(output_path(target, index))]
    return argv
