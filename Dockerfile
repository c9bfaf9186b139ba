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
#   install -m 0755 target/x86_64-unknown-linux-gnu/release/ilp-connector docker/image/bin/ilp-connector
#   docker build -t ilp-connector .
#
# The build context is the repository root, but .dockerignore lets only
# docker/image/ through, so the context is the binary and three small files.
# Same name, tag, user, entrypoint, ports and healthcheck as the Nix image
# (nix/image.nix); the environment contract is in the README.
FROM scratch

# /etc/passwd and /etc/group for uid/gid 10001, /etc/nsswitch.conf
# ("hosts: files dns", so service names resolve through Docker's embedded
# DNS after /etc/hosts), and bin/ilp-connector staged by scripts/build-image.sh.
COPY docker/image/ /

USER 10001:10001
ENV PATH=/bin
EXPOSE 3000/tcp 8080/tcp
LABEL org.opencontainers.image.title="ilp-connector"
# `ilp-connector health` exits 0 when the node's /health says healthy, else 1.
HEALTHCHECK --interval=2s --timeout=2s --start-period=1s --retries=15 \
  CMD ["/bin/ilp-connector", "health"]
ENTRYPOINT ["/bin/ilp-connector"]
