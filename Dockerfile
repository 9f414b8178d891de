# Images of the runner (`ibench`, also the operator's default runner image) and the operator.
#   docker build --target ibench -t ghcr.io/inference-bench/ibench:0.1.0 .
#   docker build --target operator -t ghcr.io/inference-bench/ibench-operator:0.1.0 .
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ibench -p ibench-operator --bins

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
