"""Our own logic around the Docker SDK (the engine itself is exercised in tests/integration/test_docker.py)."""
from __future__ import annotations

import tarfile

import pytest

from tlsmatrix.stacks import images
from tlsmatrix.stacks.images import IMAGES, _context_files, source_hash
from tlsmatrix.stacks.engine import DockerUnavailable, docker_client


def _raise_from(exc: BaseException):
    from docker.errors import DockerException

    def from_env(**_):
        try:
            raise exc
        except BaseException as inner:
            raise DockerException(f"Error while fetching server API version: {inner}") from inner

    return from_env


def test_permission_denied_says_what_to_do(monkeypatch):
    import docker

    monkeypatch.setattr(docker, "from_env", _raise_from(PermissionError(13, "Permission denied")))
    with pytest.raises(DockerUnavailable, match=r"permission denied on the Docker socket .* `docker` group .*--backend process"):
        docker_client()


def test_missing_socket_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")  # the real SDK, no engine there
    with pytest.raises(DockerUnavailable, match=r"no Docker engine at unix://.*nothing.sock .*--backend process"):
        docker_client()


def test_image_hash_follows_sources_and_build_args():
    ring, aws = IMAGES["rustls-ring"], IMAGES["rustls-aws-lc-rs"]
    assert source_hash(ring, "base1") != source_hash(aws, "base1")  # same sources, other PROVIDER
    assert source_hash(ring, "base1") != source_hash(ring, "base2")  # a new base image rebuilds
    assert source_hash(ring, "base1") == source_hash(ring, "base1")


def test_build_context_holds_only_what_the_dockerfile_needs(monkeypatch):
    spec = IMAGES["go"]
    names = {str(p.relative_to(images.project_root())) for p in _context_files(spec)}
    assert "harness/images/go/Dockerfile" in names and "harness/probes/go/server/main.go" in names
    assert not any(n.startswith(("harness/probes/rustls", "tests", ".venv", "build")) for n in names)
    ctx = images.build_context(spec, log=lambda m: None)
    with tarfile.open(fileobj=ctx) as tar:
        assert set(tar.getnames()) == names


def test_every_server_image_has_a_dockerfile():
    from tlsmatrix.stacks.servers import SERVERS

    assert set(IMAGES) == set(SERVERS)
    for spec in IMAGES.values():
        text = (images.project_root() / spec.dockerfile).read_text()
        assert "ARG BASE=debian:bookworm-slim" in text and "FROM ${BASE}" in text and "USER 65534:65534" in text


def test_a_rebuild_removes_only_the_image_it_superseded():
    """The prune is limited to this stack's label: another project's dangling images are not ours."""
    from tlsmatrix.stacks.images import _remove_superseded

    calls, logged = [], []

    class Stage:
        def __init__(self, id, created):
            self.id, self.attrs = id, {"Created": created, "Size": 1_000_000_000}

    removed = []

    class Images:
        def prune(self, filters):
            calls.append(filters)
            return {"SpaceReclaimed": 250_000_000}

        def list(self, filters):
            calls.append(filters)
            return [Stage("old", "2026-12-01T00:00:00Z"), Stage("new", "2026-12-07T00:00:00Z")]

        def remove(self, id):
            removed.append(id)

    class Client:
        images = Images()

    _remove_superseded(Client(), "openssl", logged.append)
    assert calls == [{"dangling": True, "label": "org.tlsmatrix.stack=openssl"},
                     {"dangling": True, "label": "org.tlsmatrix.build-stage=openssl"}]
    assert removed == ["old"]  # the newest build stage stays: the next build's cache
    assert logged == ["[images] openssl: removed the superseded image (1250 MB)"]

    class Refusing:
        class images:
            @staticmethod
            def prune(filters):
                raise RuntimeError("a prune operation is already running")

            @staticmethod
            def list(filters):
                return []

    _remove_superseded(Refusing(), "go", logged.append)  # a leftover is no failure: said, not raised
    assert "the superseded image stays (a prune operation is already running)" in logged[-1]


def test_every_build_stage_is_labelled_with_its_stack():
    """So that a rebuild can find the build stage it superseded (the only untagged images it leaves)."""
    for spec in IMAGES.values():
        text = (images.project_root() / spec.dockerfile).read_text()
        if " AS build" in text:
            assert "LABEL org.tlsmatrix.build-stage=" in text, spec.dockerfile
