"""Server programs around the stacks' own CLI test servers: ``gnutls-serv`` (GnuTLS), ``selfserv`` (NSS).

Run as ``python3 -m tlsmatrix.probes.cliserver.gnutls`` / ``python3 -m tlsmatrix.probes.cliserver.nss``.
Standard library only. Nothing here imports the rest of ``harness`` but ``tlsmatrix.probes.jsonlines``
(the contract's lines), so the images copy this directory and that one file.
See README.md in this directory.
"""
