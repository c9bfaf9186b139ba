# ilp-connector:latest without Nix: an empty root holding one statically
# linked binary. `docker build` pulls nothing (FROM scratch) and compiles
# nothing: the binary is built on the host first.
#
#   scripts/build-image.sh          # builds the binary, stages it, builds the image
#
# or by hand, from the repository root:
#
#   RUSTFLAGS='-C target-feature=+crt-static' \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu
#   install -D -m 0755 target/x86_64-unknown-linux-gnu/release/ilp-connector docker/image/bin/ilp-connector
#   docker build -t ilp-connector .
#
# The build context is the repository root, but .dockerignore lets only
# docker/image/ through, so the context is the binary and three small files.
# Same name, tag, user, entrypoint, ports and healthcheck as the Nix image
# (nix/image.nix); the environment contract is in the README.
FROM scratch

# /etc/passwd and /etc/group for uid/gid 10001, and /etc/nsswitch.conf
# ("hosts: files dns": /etc/hosts first, then Docker's embedded DNS, which
# answers service names).
COPY docker/image/etc/ /etc/
# The static binary staged by scripts/build-image.sh. If this step fails with
# "file not found", build and stage it first (see the top of this file).
COPY docker/image/bin/ilp-connector /bin/ilp-connector

USER 10001:10001
ENV PATH=/bin
EXPOSE 3000/tcp 8080/tcp
LABEL org.opencontainers.image.title="ilp-connector"
# `ilp-connector health` exits 0 when the node's /health says healthy, else 1.
HEALTHCHECK --interval=2s --timeout=2s --start-period=1s --retries=15 \
  CMD ["/bin/ilp-connector", "health"]
ENTRYPOINT ["/bin/ilp-connector"]
