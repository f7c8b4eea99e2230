"""Server programs around the stacks' own CLI test servers: ``gnutls-serv`` (GnuTLS), ``selfserv`` (NSS).

Run as ``python3 -m harness.probes.cliserver.gnutls`` / ``python3 -m harness.probes.cliserver.nss``.
Standard library only (what Debian's python3-minimal ships) and self-contained: nothing here
imports the rest of ``harness``, so the directory can be copied into a container on its own.
See README.md in this directory.
"""
