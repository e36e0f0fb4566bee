# A small image of the gateway: built in the Rust image, run as non-root in Debian slim.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin storefront-gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/storefront --create-home storefront
COPY --from=build /src/target/release/storefront-gateway /usr/local/bin/storefront-gateway
USER storefront
WORKDIR /var/lib/storefront
ENV STOREFRONT_LISTEN=0.0.0.0:4000 \
    STOREFRONT_DATA_DIR=/var/lib/storefront/data
EXPOSE 4000
# Ready: /readyz answers 200 (the store and Redis answer); no curl in the image, bash's /dev/tcp.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4000 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["storefront-gateway"]
CMD ["serve"]
