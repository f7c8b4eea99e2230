"""The one base class of every error tlsmatrix raises on purpose.

Library callers catch :class:`TlsmatrixError` (``except tlsmatrix.TlsmatrixError``); the command line
maps it to exit status 2 and prints its message as one line. Errors of a particular kind keep their
own class (``ScenarioError``, ``PKIError``, ...), each deriving from this one; those that were
``ValueError`` s stay ``ValueError`` s too, so older ``except ValueError`` code still works.

This module imports nothing from the package: every other module can import it.
"""
from __future__ import annotations


class TlsmatrixError(Exception):
    """Something tlsmatrix refuses or cannot do, said in one line (what, which value or file, a hint)."""


class UsageError(TlsmatrixError):
    """A call or command line that cannot work as given (unknown stack, a selection without cells, ...)."""


class HarnessError(TlsmatrixError):
    """Something that stops the whole run (a server stack that cannot start, results that cannot be written)."""


class TlsmatrixWarning(UserWarning):
    """A problem that does not stop the run (an [[expect]] rule that matches no cell, when allowed)."""


class InputError(TlsmatrixError):
    """Bad input: a command-line value, a file, a key that does not fit (exit status 2)."""
