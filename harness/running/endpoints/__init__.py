"""TLS endpoints: servers the client probes connect to (process backend; docker in issue 3)."""
