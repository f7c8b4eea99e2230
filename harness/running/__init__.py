"""Layer 4, running: scenarios into cells, the runner and the client drive loop, endpoints
(process, docker, misbehaving peers), probe sessions, child processes, the reaper, progress.
Imports tlsmatrix.model, tlsmatrix.certs and tlsmatrix.stacks."""
