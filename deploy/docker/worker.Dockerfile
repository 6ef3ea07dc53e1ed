# syntax=docker/dockerfile:1.7
# strata-worker: the stateless layer worker of the fleet (docs/fleet.md).
# Build from the repository root:  docker build -f deploy/docker/worker.Dockerfile -t strata-worker .
#
# Base images are pinned by version AND digest so a rebuild gets the same toolchain and runtime; the
# digests are of the multi-arch indexes as published when this file was written and must be refreshed
# together with the tag (`skopeo inspect --raw docker://IMAGE:TAG | sha256sum`, see deploy/README.md).
# They are ARGs only so scripts/build-image.sh can substitute stand-in bases on a machine that cannot
# pull; the defaults are what every real build uses.
ARG RUST_IMAGE=rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

# ---- build: the Rust toolchain; nothing from here reaches the runtime image but the two binaries ------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
# The root .dockerignore is an allow-list: sources and manifests only (no .git, target/, test data).
COPY . .
# protoc is vendored (protoc-bin-vendored), so the slim image needs no apt packages. Cache mounts keep the
# registry and target dir out of the layers; --locked builds exactly Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p strata-worker \
    && install -D -m 0755 target/release/strata-worker /out/strata-worker \
    && rustc --edition 2024 -C opt-level=s -C strip=symbols deploy/docker/probe/strata-probe.rs -o /out/strata-probe
# A dedicated user and group (10001, not the base's shared `nonroot`), written as the runtime's whole
# passwd/group: root and nobody stay resolvable, nothing else exists. Numeric in USER below so
# Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nstrata:x:10001:10001:strata:/nonexistent:/sbin/nologin\n' > /out/passwd \
    && printf 'root:x:0:\nnobody:x:65534:\nstrata:x:10001:\n' > /out/group

# ---- runtime: distroless cc (glibc, libgcc, CA certificates; no shell, no package manager) ------------
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
# Where the source lives (set by the release pipeline; empty is better than a made-up URL).
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="strata-worker" \
      org.opencontainers.image.description="Strata fleet layer worker: consumes layer jobs from RabbitMQ, streams blobs from registries, caches results in Redis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.documentation="docs/fleet.md, deploy/README.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/strata-worker /out/strata-probe /usr/local/bin/
USER 10001:10001
# Metrics and health (/metrics, /healthz, /readyz). The worker serves nothing else.
EXPOSE 9090
# Docker/Compose health: liveness only (readiness is the orchestrator's business via /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/strata-probe", "http://127.0.0.1:9090/healthz"]
# SIGTERM = stop consuming, finish the jobs in flight, exit; give it time (the Kubernetes manifests use 120 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strata-worker"]
