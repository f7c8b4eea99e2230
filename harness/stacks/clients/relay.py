"""The relay a versioned client column runs (harness/stacks/clients/containers.py): one `docker run -i` probe.

    python -m tlsmatrix.stacks.clients.relay <column>

It starts the column's probe in its release's image (on NETWORK_ENV's network, else the host's),
copies each job's certificate files into the container (Docker's archive API: no bind mount),
rewrites the job's paths to the copies, and passes the JSON lines through both ways; the hello
gains the image (``details.image``: tag and id) so results say which build answered.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from pathlib import Path

from .containers import FILE_FIELDS, IN_CONTAINER, NETWORK_ENV, RELAY, VERSIONED, Versioned


class Relay:
    """One `docker run -i` probe: jobs in (files copied in, paths rewritten), lines out."""

    def __init__(self, v: Versioned) -> None:
        from ..engine import LABEL_PREFIX, docker_client
        from ...model.owner import Owner

        self.v = v
        self.client = docker_client(timeout=60)
        self.image = self.client.images.get(v.image)
        self.name = f"tlsmatrix-client-{v.column.replace('@', '-')}-{uuid.uuid4().hex[:8]}"
        network = os.environ.get(NETWORK_ENV) or "host"
        labels = {f"{LABEL_PREFIX}.managed": "true", f"{LABEL_PREFIX}.stack": v.column,
                  **Owner.me().labels(LABEL_PREFIX), **self.run_label(network)}
        argv = ["docker", "run", "--rm", "-i", "--network", network, "--name", self.name,
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534",
                *(a for k, val in labels.items() for a in ("--label", f"{k}={val}")), self.image.id, *v.argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.copied: dict[tuple[str, float], str] = {}

    def run_label(self, network: str) -> dict[str, str]:
        """A docker run's internal network's run label: the container is the run's, and goes with it
        (its watchdog removes by that label, even after a kill -9: harness/running/watchdog.py)."""
        from ..engine import LABEL_RUN

        if network == "host":
            return {}
        labels = self.client.networks.get(network).attrs.get("Labels") or {}
        return {LABEL_RUN: labels[LABEL_RUN]} if LABEL_RUN in labels else {}

    def pump_out(self) -> None:
        """Container stdout → ours; the hello line gains the image."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("hello"), dict):
                details = obj["hello"].setdefault("details", {})
                details["image"] = f"{self.v.image} {self.image.id}"
                details["runs_in"] = f"docker ({self.v.release})"
                line = json.dumps(obj) + "\n"
            sys.stdout.write(line)
            sys.stdout.flush()

    def container_path(self, host_path: str) -> str:
        """Copy a job's file into the container once (by path and mtime); its path in there."""
        path = Path(host_path)
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        target = f"{IN_CONTAINER}/{digest}/{path.name}"
        try:
            key = (str(path), path.stat().st_mtime)
            if key in self.copied:
                return self.copied[key]
            data = path.read_bytes()
        except OSError:
            return target  # not readable here: the probe reports it as it would any missing file
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, is_dir, mode in ((IN_CONTAINER.strip("/").split("/", 1)[1], True, 0o755),
                                       (f"tlsmatrix-files/{digest}", True, 0o755),
                                       (f"tlsmatrix-files/{digest}/{path.name}", False, 0o644)):
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.uid, info.gid = (tarfile.DIRTYPE if is_dir else tarfile.REGTYPE), mode, 65534, 65534
                info.size = 0 if is_dir else len(data)
                tar.addfile(info, None if is_dir else io.BytesIO(data))
        self.client.api.put_archive(self.name, "/tmp", buf.getvalue())
        self.copied[key] = target
        return target

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            job = json.loads(line)
        except ValueError:
            job = None
        if isinstance(job, dict):
            for field in FILE_FIELDS:
                if isinstance(job.get(field), str):
                    job[field] = self.container_path(job[field])
            line = json.dumps(job) + "\n"
        self.proc.stdin.write(line)
        self.proc.stdin.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in VERSIONED:
        print(f"usage: python -m {RELAY} COLUMN (one of: {', '.join(VERSIONED)})", file=sys.stderr)
        return 2
    relay = Relay(VERSIONED[args[0]])
    out = threading.Thread(target=relay.pump_out, daemon=True)
    out.start()
    try:
        for line in sys.stdin:
            relay.send(line)
    except BrokenPipeError:
        pass
    finally:
        try:
            relay.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
    code = relay.proc.wait()
    out.join(timeout=5)
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
