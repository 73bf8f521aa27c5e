# syntax=docker/dockerfile:1
# sequra-bc as a container image: the serve-only binary (no stand-ins, no `demo`) on
# distroless (glibc, CA certificates, no shell, no package manager), run as a fixed non-root
# user. The database lives in one volume, the secrets key in another, to be backed up apart.
#
#   docker build -t sequra-bc .
#   compose.yaml runs it with Caddy in front; the README's "Container" says what to set.
#
# tests/cli.rs lints this file with hadolint and runs the binary as this image does (its
# user, ENV, CMD and HEALTHCHECK, read from here); the image build itself needs a Docker
# engine and is not part of the tests.

# The project's toolchain (rustc 1.95) on the runtime's Debian release (12, bookworm): the
# binary links against the same glibc it runs with.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target/ are build caches (BuildKit): a rebuild after a source change
# compiles the app again, not its dependencies. --locked: exactly the tested Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin sequra-bc \
    && install -D -m 0755 target/release/sequra-bc /out/sequra-bc \
    && install -d -m 0700 /out/data /out/key

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/sequra-bc /usr/local/bin/sequra-bc
# Owned by the user before the volumes are mounted, so a new named volume starts out theirs.
COPY --from=builder --chown=65532:65532 /out/data /var/lib/sequra-bc
COPY --from=builder --chown=65532:65532 /out/key /var/lib/sequra-bc-key
# distroless's "nonroot", by number so that a runtime can check it is not root.
USER 65532:65532
# The app's settings from the environment (SEQURA_BC_<SECTION>__<KEY>); set the client id,
# the client secret and the public URL when running it. Listening on every address of the
# container: publish it only to the reverse proxy (compose.yaml publishes only Caddy).
ENV SEQURA_BC_STORAGE__DATA_DIR=/var/lib/sequra-bc \
    SEQURA_BC_SERVER__LISTEN=0.0.0.0:8080
# The key file's path, not the key (hadolint flags any SECRET in a name).
# hadolint ignore=DL3064
ENV SEQURA_BC_SECURITY__SECRETS_KEY_FILE=/var/lib/sequra-bc-key/secrets.key
VOLUME ["/var/lib/sequra-bc", "/var/lib/sequra-bc-key"]
EXPOSE 8080
# The binary asks its own /readyz (database reachable, schema current) on the address above:
# the image has no curl. Migrations run before the server listens, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["sequra-bc", "health"]
# serve finishes in-flight requests and stops its background work on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sequra-bc"]
CMD ["serve"]
