# syntax=docker/dockerfile:1
# Athena's image: one binary and the built-in analyzer modules.
#
#   docker build -t athena:0.1.0 .
#   docker run --rm -p 8080:8080 athena:0.1.0     # athena serve, everything in one container
#
# deploy/README.md runs the same image as separate gateway and engine pods;
# deploy/dockerfile_test.go checks this file against the repository.

# Build: the Go toolchain and wabt's wat2wasm, then `make build`.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wabt \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    make build

# Run: Debian slim, a non-root user, nothing pre-warmed (the compilation
# cache fills on first start, in ATHENA_CACHE_DIR).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 athena \
 && useradd --system --uid 10001 --gid athena --home-dir /var/lib/athena --no-create-home \
      --shell /usr/sbin/nologin athena \
 && install -d -o athena -g athena -m 0750 /var/lib/athena /var/cache/athena
COPY --from=build /src/bin/athena /usr/local/bin/athena
COPY --from=build /src/dist/modules/ /usr/lib/athena/modules/
ENV ATHENA_MODULES=/usr/lib/athena/modules \
    ATHENA_CACHE_DIR=/var/cache/athena
VOLUME ["/var/lib/athena", "/var/cache/athena"]
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /var/lib/athena
EXPOSE 8080
ENTRYPOINT ["athena"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data", "/var/lib/athena"]
