import type { ServiceName } from "./schema.js";

/**
 * What each Fediversity service looks like on a NixOS host, from the nixpkgs modules and the
 * services' own code (../shared/fediversity.md). Pure data: expansion into a host's checks,
 * with per-host overrides, lives in desired.ts.
 */
export interface CatalogUnit {
  unit: string;
  /** A oneshot is healthy when its last run succeeded (Result=success), not when running. */
  oneshot?: boolean;
}

export interface CatalogHttpCheck {
  name: string;
  path: string;
  expectStatus: number[];
  expectBody?: string;
  method?: "GET" | "HEAD";
  /**
   * Where the endpoint lives: the public vhost (`https://<hostname><path>`, connecting to the
   * host's own address), or a port on the host's address itself (Garage's admin API).
   */
  via: "vhost" | "address";
  defaultPort?: number;
  /** Units restarted when this check fails while they look active; "streaming" = every streaming unit. */
  units: string[];
}

export interface CatalogService {
  name: ServiceName;
  units: (opts: { streamingProcesses: number }) => CatalogUnit[];
  http: CatalogHttpCheck[];
}

const streamingUnits = (n: number) =>
  Array.from({ length: n }, (_, i) => `mastodon-streaming-${i + 1}.service`);

export const CATALOG: Readonly<Record<ServiceName, CatalogService>> = Object.freeze({
  mastodon: {
    name: "mastodon",
    units: ({ streamingProcesses }) => [
      { unit: "mastodon-web.service" },
      ...streamingUnits(streamingProcesses).map((unit) => ({ unit })),
      { unit: "mastodon-sidekiq-all.service" },
      { unit: "redis-mastodon.service" },
      { unit: "mastodon-init-dirs.service", oneshot: true },
      { unit: "mastodon-init-db.service", oneshot: true },
    ],
    http: [
      // mastodon-web listens on a unix socket; probe through nginx's public vhost.
      {
        name: "health",
        path: "/health",
        expectStatus: [200],
        expectBody: "OK",
        via: "vhost",
        units: ["mastodon-web.service"],
      },
      {
        name: "streaming",
        path: "/api/v1/streaming/health",
        expectStatus: [200],
        expectBody: "OK",
        via: "vhost",
        units: ["streaming"],
      },
    ],
  },
  pixelfed: {
    name: "pixelfed",
    units: () => [
      { unit: "phpfpm-pixelfed.service" },
      { unit: "pixelfed-horizon.service" },
      { unit: "pixelfed-cron.timer" },
      { unit: "pixelfed-data-setup.service", oneshot: true },
    ],
    http: [
      {
        name: "health",
        path: "/api/service/health-check",
        expectStatus: [200],
        expectBody: "OK",
        via: "vhost",
        units: ["phpfpm-pixelfed.service"],
      },
    ],
  },
  peertube: {
    name: "peertube",
    units: () => [
      { unit: "peertube.service" },
      { unit: "redis-peertube.service" },
      { unit: "peertube-init-db.service", oneshot: true },
    ],
    http: [
      {
        name: "ping",
        path: "/api/v1/ping",
        expectStatus: [200],
        expectBody: "pong",
        via: "vhost",
        units: ["peertube.service"],
      },
    ],
  },
  gotosocial: {
    name: "gotosocial",
    units: () => [{ unit: "gotosocial.service" }],
    http: [
      { name: "livez", path: "/livez", expectStatus: [200], via: "vhost", units: ["gotosocial.service"] },
      { name: "readyz", path: "/readyz", expectStatus: [200], via: "vhost", units: ["gotosocial.service"] },
    ],
  },
  garage: {
    name: "garage",
    units: () => [{ unit: "garage.service" }],
    http: [
      // Garage's admin API answers /health without a token; 3903 is the port by convention.
      {
        name: "admin-health",
        path: "/health",
        expectStatus: [200],
        via: "address",
        defaultPort: 3903,
        units: ["garage.service"],
      },
    ],
  },
});

export const DEFAULT_STREAMING_PROCESSES = 1;
