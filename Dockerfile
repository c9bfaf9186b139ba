# ilp-connector:latest without Nix: an empty root (FROM scratch) holding one
# statically linked binary and three small files. On a fresh clone:
#
#   docker build -t ilp-connector .
#
# The build stage compiles the binary in an official Rust image (Debian
# bookworm: glibc's static libc.a, gcc for mimalloc's C part) as a static
# glibc executable (-C target-feature=+crt-static). Any image with cargo,
# gcc and libc6-dev will do:
#
#   docker build --build-arg BUILDER_IMAGE=my-rust:bookworm -t ilp-connector .
#
# (scripts/builder-image.sh makes one from nothing where no registry can be
# pulled.) Crates are downloaded from crates.io in the build stage (cargo
# fetch --locked, its own layer, so a source change does not download them
# again). No BuildKit feature is used: the classic builder works too.
#
# scripts/build-image.sh is the fast way when Rust is installed on the host:
# it builds the binary there (incremental, cached) and uses
# docker/Dockerfile.staged, whose image stage is the same as the one below.
# Both read their constants from docker/deployment.json (uid, ports, health
# check; tests/docker.rs checks that they agree with it), as does the Nix
# image (nix/image.nix).
ARG BUILDER_IMAGE=rust:1-bookworm

FROM ${BUILDER_IMAGE} AS build
# Lets scripts remove this stage's image after a build (docker image prune
# --filter label=ilp-connector.stage=build); the final image does not inherit it.
LABEL ilp-connector.stage=build
WORKDIR /src
# Dependencies first (the manifest needs its targets to exist: empty stubs).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches && touch src/lib.rs src/main.rs benches/codec.rs \
 && cargo fetch --locked
COPY src/ src/
COPY benches/ benches/
# The functions a node runs are linked first (docker/link-order.sh prints
# the flags, or nothing where the linker does not take them): idle RSS.
COPY docker/link-order.sh docker/symbol-order.txt docker/
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo rustc --release --locked --offline --target x86_64-unknown-linux-gnu --bin ilp-connector \
      -- $(sh docker/link-order.sh) \
 && bin=target/x86_64-unknown-linux-gnu/release/ilp-connector \
 && if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then \
      echo "error: $bin is dynamically linked" >&2; exit 1; fi \
 && install -D -m 0755 "$bin" /out/bin/ilp-connector

# The image. Keep this stage the same as in docker/Dockerfile.staged (a test
# compares them).
FROM scratch
# /etc/passwd and /etc/group for uid/gid 10001, and /etc/nsswitch.conf
# ("hosts: files dns": /etc/hosts first, then Docker's embedded DNS, which
# answers service names).
COPY docker/image/etc/ /etc/
COPY --from=build /out/bin/ilp-connector /bin/ilp-connector
# An empty /data owned by the user, where the node keeps its books (DATA_DIR,
# on a volume): an empty named volume mounted there takes this directory's
# owner, so the read-only container can write it. docker/image/data/ holds
# only .keep (for git), which .dockerignore leaves out of the context.
COPY --chown=10001:10001 docker/image/data/ /data/
USER 10001:10001
ENV PATH=/bin
EXPOSE 3000/tcp 8080/tcp
LABEL org.opencontainers.image.title="ilp-connector"
# `ilp-connector health` exits 0 when the node's /health says healthy, else 1.
HEALTHCHECK --interval=1s --timeout=1s --start-period=5s --retries=3 \
  CMD ["/bin/ilp-connector", "health"]
ENTRYPOINT ["/bin/ilp-connector"]
