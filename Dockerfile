# Images of the runner (`ibench`, also the operator's default runner image) and the operator.
#   docker build --target ibench -t ghcr.io/inference-bench/ibench:0.1.0 .
#   docker build --target operator -t ghcr.io/inference-bench/ibench-operator:0.1.0 .
# images/build.sh builds the same images without Docker (umoci, from scratch): same binary
# paths, user, entrypoint, command, ports, and the base's environment and working directory;
# tests/cluster/tests/images.rs compares them with the stages below. The release workflow
# (.github/workflows/release.yml) builds and publishes from this file.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# The release profile keeps line tables (~100 MB binaries); the images keep the symbols only, as
# images/build.sh does.
RUN cargo build --release --locked -p ibench -p ibench-operator --bins \
    && strip --strip-debug target/release/ibench target/release/ibench-operator

# distroless/cc: glibc and libgcc only, no shell. Numeric user, so that Kubernetes can verify
# runAsNonRoot (the runner Job sets it).
FROM gcr.io/distroless/cc-debian12:nonroot AS ibench
COPY --from=build /src/target/release/ibench /usr/local/bin/ibench
USER 65532:65532
ENTRYPOINT ["ibench"]

FROM gcr.io/distroless/cc-debian12:nonroot AS operator
COPY --from=build /src/target/release/ibench-operator /usr/local/bin/ibench-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["ibench-operator"]
CMD ["run", "--log-format", "json"]
