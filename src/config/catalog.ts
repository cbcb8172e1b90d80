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
  /**
   * The unit exists only under a module option. `option` (relative to services.<name>) is the
   * one that creates it, with nixpkgs' default; without an option NixGuard cannot know, and the
   * unit is judged only when the host reports it loaded. A unit whose option is off is never
   * called missing: no redeploy can create it.
   */
  conditional?: { option?: string; defaultOn: boolean };
}

export interface CatalogHttpCheck {
  name: string;
  path: string;
  expectStatus: number[];
  expectBody?: string;
  method?: "GET" | "HEAD";
  /**
   * Where the endpoint lives: the public vhost (`https://<hostname><path>`, connecting to the
   * host's own address; nginx serves it), or a port on the host's address itself (Garage).
   */
  via: "vhost" | "address";
  defaultPort?: number;
  /** Units restarted when this check fails while they look active; "streaming" = every streaming unit. */
  units: string[];
  /** Garage: the admin API check exists only when it is configured; the S3 check stands in otherwise. */
  when?: "admin-api" | "no-admin-api";
}

export interface CatalogService {
  name: ServiceName;
  units: (opts: { streamingProcesses: number }) => CatalogUnit[];
  http: CatalogHttpCheck[];
}

const streamingUnits = (n: number) =>
  Array.from({ length: n }, (_, i) => `mastodon-streaming-${i + 1}.service`);

/** Every vhost is nginx's: when nginx is down, every vhost check fails while the apps are fine. */
export const NGINX_UNIT = "nginx.service";

export const CATALOG: Readonly<Record<ServiceName, CatalogService>> = Object.freeze({
  mastodon: {
    name: "mastodon",
    units: ({ streamingProcesses }) => [
      { unit: "mastodon-web.service" },
      ...streamingUnits(streamingProcesses).map((unit) => ({ unit })),
      { unit: "mastodon-sidekiq-all.service" },
      { unit: "redis-mastodon.service", conditional: { option: "redis.createLocally", defaultOn: true } },
      { unit: "mastodon-init-dirs.service", oneshot: true, conditional: { defaultOn: false } },
      {
        unit: "mastodon-init-db.service",
        oneshot: true,
        conditional: { option: "automaticMigrations", defaultOn: true },
      },
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
      // nixpkgs' `location ^~ /api/v1/streaming/ { proxy_pass http://…/; }` strips that prefix:
      // /api/v1/streaming/health reaches the streaming server as /health ("Unknown channel
      // requested", 400). Through the vhost its health endpoint is this path.
      {
        name: "streaming",
        path: "/api/v1/streaming/api/v1/streaming/health",
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
      { unit: "redis-pixelfed.service", conditional: { option: "redis.createLocally", defaultOn: true } },
      { unit: "pixelfed-data-setup.service", oneshot: true, conditional: { defaultOn: false } },
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
      { unit: "redis-peertube.service", conditional: { option: "redis.createLocally", defaultOn: false } },
      {
        unit: "peertube-init-db.service",
        oneshot: true,
        conditional: { option: "database.createLocally", defaultOn: false },
      },
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
    // The module binds 127.0.0.1:8080 and makes no vhost: desired.ts probes it there on a
    // local host, through the vhost an operator names otherwise.
    http: [
      { name: "livez", path: "/livez", expectStatus: [200], via: "vhost", units: ["gotosocial.service"] },
      { name: "readyz", path: "/readyz", expectStatus: [200], via: "vhost", units: ["gotosocial.service"] },
    ],
  },
  garage: {
    name: "garage",
    units: () => [{ unit: "garage.service" }],
    http: [
      // The admin API exists only with [admin] api_bind_addr, which the nixpkgs module does not
      // set; /health needs no token: 200 healthy or degraded, 503 when quorum is lost.
      {
        name: "admin-health",
        path: "/health",
        expectStatus: [200],
        via: "address",
        defaultPort: 3903,
        units: ["garage.service"],
        when: "admin-api",
      },
      // Without it: the S3 API answers at all (anonymous requests are refused with 403).
      {
        name: "s3",
        path: "/",
        expectStatus: [200, 400, 403],
        via: "address",
        defaultPort: 3900,
        units: ["garage.service"],
        when: "no-admin-api",
      },
    ],
  },
});

/** The options (relative to services.<name>) that create a service's conditional units. */
export function catalogOptions(service: ServiceName): string[] {
  const units = CATALOG[service].units({ streamingProcesses: 1 });
  return [...new Set(units.flatMap((u) => (u.conditional?.option ? [u.conditional.option] : [])))];
}

/** Processes the simulator runs per Mastodon host (nixpkgs has no default: configs must say). */
export const DEFAULT_STREAMING_PROCESSES = 1;
