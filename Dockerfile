# sync-server image. Build:   docker build -t sync-server .        (or: podman build --format docker ...)
#                     Run:     docker run -p 8080:8080 -p 9090:9090 -v sync-data:/data sync-server [extra flags, e.g. --db immutable]
#
# The build does NO registry access: it copies the node_modules that `npm ci` made on the host
# (they must exist in the build context; .dockerignore keeps them) and prunes the dev
# dependencies offline. Run `npm ci` on the host (Linux x64, Node 20) before building. The
# batched SHA-256 addon that `npm ci` compiled on the host (native/build/Release/sha256_batch.node)
# is copied too; without it the server hashes with wasm (the image still builds and works).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript, then drop dev dependencies ---------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
COPY tsconfig.json tsconfig.build.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY gen ./gen
COPY src ./src
COPY bin ./bin
COPY scripts ./scripts
COPY native ./native
# `npm prune` must not touch the network: --offline, and no audit/fund/update checks.
# The last check prints which SHA-256 the image uses for batches ("native" when the addon loaded).
RUN npm run build \
 && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts \
 && node -e 'require("/app/dist/src/cli/server.js"); require("@grpc/grpc-js"); require("grpc-health-check")' \
 && mkdir -p native/build/Release \
 && node -e 'console.log("batched SHA-256:", require("/app/dist/src/mmr/sha256.js").SHA256_BATCH_IMPLEMENTATION)'

# ---- runtime --------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Application files stay owned by root (read-only for the server); only /data is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/gen ./dist/gen
COPY --from=build /app/bin ./bin
COPY --from=build /app/native/build/Release ./native/build/Release
COPY --from=build /app/scripts/healthcheck.js ./scripts/healthcheck.js
# The `node` user (uid/gid 1000) comes with the official node images.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# 8080: gRPC (SyncService, grpc.health.v1.Health, reflection); 9090: Prometheus /metrics.
EXPOSE 8080 9090
# Exits 0 iff grpc.health.v1.Health/Check("") answers SERVING on 127.0.0.1 (see scripts/healthcheck.js
# for how the port is found; set HEALTH_PORT to override). Needs `--format docker` with podman/buildah:
# the OCI image format has no HEALTHCHECK.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.js"]
# SIGTERM (docker/podman stop) -> graceful shutdown, exit 0. The default 10 s stop timeout covers
# the server's --shutdown-grace (5 s, plus 1 s to end streams); raise both together if needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/sync-server.js", "--host", "0.0.0.0", "--storage-dir", "/data", "--log-format", "json"]
CMD []
