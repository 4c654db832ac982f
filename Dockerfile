# syntax=docker/dockerfile:1
# A small runtime image of terrace: built once in a Rust image with the
# `dist` profile (scripts/install), then copied alone into Debian slim with
# CA certificates (for AWS, S3/PostgreSQL state and module registries over
# TLS). Nothing of the toolchain or the sources is in the final image.
#
#   docker build -t terrace .
#   docker run --rm -v "$PWD:/work" -w /work \
#     -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e TERRACE_STATE \
#     terrace plan -e dev
#
# `terrace init` of git:: module sources runs the system `git`, which this
# image leaves out to stay small; build with --build-arg WITH_GIT=1 to add it.
# In CI (GitLab `image:`), set `entrypoint: [""]` so the job's script runs.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# The cargo registry and target folder are BuildKit caches, so a rebuild
# after a source change compiles only what changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/install /opt/terrace

FROM ${RUNTIME_IMAGE}
ARG WITH_GIT=0
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && if [ "$WITH_GIT" = 1 ]; then apt-get install -y --no-install-recommends git openssh-client; fi \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 terrace
COPY --from=builder /opt/terrace/bin/terrace /usr/local/bin/terrace
USER terrace
WORKDIR /work
ENTRYPOINT ["terrace"]
CMD ["--help"]
