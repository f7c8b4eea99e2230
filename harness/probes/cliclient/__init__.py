"""Client probes around TLS command-line clients (gnutls-cli, tstclnt, openssl s_client, curl).

One long-lived probe per CLI speaking the client contract of docs/probe-contract.md; each job runs
the real CLI once. See README.md in this directory.
"""
