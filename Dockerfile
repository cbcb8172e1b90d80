# NixGuard without NixOS. On NixOS use the module (nix/module.nix) instead.
#
#   docker build -t nixguard .
#   docker run -d --name nixguard \
#     -v /srv/nixguard/nixguard.json:/etc/nixguard/nixguard.json:ro \
#     -v /srv/nixguard/secrets:/run/secrets/nixguard:ro \
#     -v nixguard-state:/var/lib/nixguard \
#     -p 127.0.0.1:9273:9273 nixguard
#
# The config is a mounted file (its api.listen must be "0.0.0.0:9273" to be
# reachable through -p); secrets are mounted files the config points at; state
# lives in the volume. The image has no Nix and no nixops4: see docs/operations.md
# ("Run with Docker") for redeploys.

ARG NODE_IMAGE=node:22-slim

# --- build: all dependencies, TypeScript compiled to dist/ -------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ----------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime --------------------------------------------------------------------
FROM ${NODE_IMAGE}

# openssh-client: probes and unit restarts run over ssh. tini: ssh control masters
# detach and are reparented to PID 1, which must reap them; node does not.
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends openssh-client tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged user that owns the state volume (ssh writes below $HOME).
RUN groupadd --system --gid 10001 nixguard \
  && useradd --system --uid 10001 --gid nixguard --home-dir /var/lib/nixguard \
     --shell /usr/sbin/nologin nixguard \
  && mkdir -p /var/lib/nixguard /run/nixguard /etc/nixguard \
  && chown nixguard:nixguard /var/lib/nixguard /run/nixguard \
  && chmod 0750 /var/lib/nixguard /run/nixguard

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY docs/config.schema.json ./docs/config.schema.json
COPY examples ./examples

ENV NODE_ENV=production \
    HOME=/var/lib/nixguard \
    NIXGUARD_HEALTH_URL=http://127.0.0.1:9273/healthz

USER nixguard:nixguard
VOLUME ["/var/lib/nixguard"]
EXPOSE 9273

# Node 22 has fetch: no curl in the image. Override NIXGUARD_HEALTH_URL when
# api.listen uses another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.NIXGUARD_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM reaches NixGuard through tini; it drains within worker.shutdownGrace,
# so give `docker stop` a longer timeout (-t 180) when redeploys may be running.
STOPSIGNAL SIGTERM
# Heap tuning is node's command line (src/runtime/heap.ts: HEAP_NODE_FLAGS), never set at run time.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--heap-growing-percent=100", "--no-allocation-site-pretenuring", "/app/dist/main.js"]
CMD ["serve", "--config", "/etc/nixguard/nixguard.json"]
