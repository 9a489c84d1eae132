# syntax=docker/dockerfile:1
# Uptimer with every plugin (Kafka included). Build: docker build -t uptimer .
# Default command: `run` (settings from the environment, events on stdout), as the original.
# Dashboard: docker run -p 8080:8080 uptimer serve --listen 0.0.0.0:8080 (README, "Docker").
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --features kafka \
 && strip target/release/uptimer

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/uptimer --create-home uptimer
COPY --from=build /src/target/release/uptimer /usr/local/bin/uptimer
COPY docker/entrypoint.sh /usr/local/bin/uptimer-entrypoint
USER 10001
WORKDIR /var/lib/uptimer
ENV DATA_DIR=/var/lib/uptimer
# /metrics, /healthz and /readyz in every mode (prober, Kafka producer or consumer, serve);
# `uptimer healthcheck` (the HEALTHCHECK below) asks this listener; 0.0.0.0 means this host.
ENV METRICS_LISTEN=0.0.0.0:9090
# `uptimer serve --listen 0.0.0.0:8080`: the dashboard, JSON API and /metrics.
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["uptimer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/uptimer-entrypoint"]
CMD ["run"]
