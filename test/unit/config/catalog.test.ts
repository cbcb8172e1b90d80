import { describe, expect, it } from "vitest";
import { allHosts } from "../../../src/config/desired.js";
import { parseConfig } from "../../../src/config/load.js";
import type { ConfigError } from "../../../src/errors.js";

const fedi = (hosts: Record<string, unknown>, enable: Record<string, boolean>) => ({
  deployments: {
    f: {
      flake: "/srv/f",
      fediversity: {
        domain: "example.org",
        ...Object.fromEntries(Object.entries(enable).map(([k, v]) => [k, { enable: v }])),
      },
      hosts,
    },
  },
});

const garageHost = { address: "10.0.0.9", services: ["garage"] };

const issues = (raw: unknown) => {
  try {
    parseConfig(raw);
    return [];
  } catch (e) {
    return (e as ConfigError).issues;
  }
};

describe("Fediversity catalog", () => {
  it("judges oneshot units by Result, not by running", () => {
    const { desired } = parseConfig(
      fedi({ p: { address: "10.0.0.2", services: ["peertube"] }, g: garageHost }, { peertube: true }),
    );
    const units = allHosts(desired)[0]!.units;
    expect(units.find((u) => u.unit === "peertube-init-db.service")).toMatchObject({ oneshot: true });
    expect(units.find((u) => u.unit === "peertube.service")).toMatchObject({ oneshot: false });
  });

  it("expands mastodon streaming processes and ties the streaming check to them", () => {
    const { desired } = parseConfig(
      fedi(
        {
          m: {
            address: "10.0.0.1",
            services: ["mastodon"],
            serviceOptions: { mastodon: { streamingProcesses: 3 } },
          },
          g: garageHost,
        },
        { mastodon: true },
      ),
    );
    const host = allHosts(desired)[0]!;
    expect(host.units.filter((u) => u.unit.startsWith("mastodon-streaming-")).map((u) => u.unit)).toEqual([
      "mastodon-streaming-1.service",
      "mastodon-streaming-2.service",
      "mastodon-streaming-3.service",
    ]);
    // Through the vhost: nginx first, then every streaming process.
    expect(host.http.find((c) => c.name === "mastodon-streaming")!.units).toEqual([
      "nginx.service",
      "mastodon-streaming-1.service",
      "mastodon-streaming-2.service",
      "mastodon-streaming-3.service",
    ]);
  });

  it("lets a host override hostname, scheme, port, paths and skip units", () => {
    const { desired } = parseConfig(
      fedi(
        {
          px: {
            address: "127.0.0.1",
            services: ["pixelfed"],
            serviceOptions: {
              pixelfed: {
                hostname: "photos.example.net",
                scheme: "http",
                port: 8080,
                skipUnits: ["pixelfed-cron.timer"],
                checks: { health: { path: "/up", expectBody: "fine" } },
              },
            },
          },
          g: garageHost,
        },
        { pixelfed: true },
      ),
    );
    const host = allHosts(desired)[0]!;
    expect(host.http[0]).toMatchObject({
      url: "http://photos.example.net:8080/up",
      expectBody: "fine",
      resolve: "127.0.0.1",
    });
    expect(host.units.map((u) => u.unit)).not.toContain("pixelfed-cron.timer");
  });

  it("checks Garage's S3 port when no admin API is configured (the nixpkgs module enables none)", () => {
    const { desired } = parseConfig(
      fedi({ g: { address: "10.0.0.5", services: ["garage"] } }, { garage: true }),
    );
    const host = allHosts(desired)[0]!;
    expect(host.http).toEqual([
      expect.objectContaining({ name: "garage-s3", url: "http://10.0.0.5:3900/", units: ["garage.service"] }),
    ]);
    expect(host.units.map((u) => u.unit)).toEqual(["garage.service"]);
  });

  it("puts Garage's admin health where its admin API is configured, with its token file", () => {
    const { desired } = parseConfig(
      fedi(
        {
          g: {
            address: "10.0.0.5",
            services: ["garage"],
            serviceOptions: {
              garage: { adminApi: { address: "10.9.0.5", port: 3904, tokenFile: "/run/t" } },
            },
          },
        },
        { garage: true },
      ),
    );
    expect(allHosts(desired)[0]!.http).toEqual([
      expect.objectContaining({
        name: "garage-admin-health",
        url: "http://10.9.0.5:3904/health",
        bearerTokenFile: "/run/t",
      }),
    ]);
  });

  it("needs mastodon's streamingProcesses from the config (nixpkgs has no default)", () => {
    const list = issues(
      fedi({ m: { address: "10.0.0.1", services: ["mastodon"] }, g: garageHost }, { mastodon: true }),
    );
    expect(list).toEqual([
      expect.objectContaining({ path: "deployments.f.hosts.m.serviceOptions.mastodon.streamingProcesses" }),
    ]);
  });

  it("marks units that exist only under an option conditional, unless the option is on", () => {
    const peertube = (options?: Record<string, boolean>) =>
      allHosts(
        parseConfig(
          fedi(
            {
              p: {
                address: "10.0.0.2",
                services: ["peertube"],
                ...(options ? { serviceOptions: { peertube: { options } } } : {}),
              },
              g: garageHost,
            },
            { peertube: true },
          ),
        ).desired,
      ).find((h) => h.name === "p")!.units;
    // nixpkgs' defaults: redis.createLocally and database.createLocally are off for PeerTube.
    expect(
      peertube()
        .filter((u) => u.conditional)
        .map((u) => u.unit),
    ).toEqual(["redis-peertube.service", "peertube-init-db.service"]);
    expect(
      peertube({ "redis.createLocally": true }).find((u) => u.unit === "redis-peertube.service")!.conditional,
    ).toBeUndefined();
    expect(
      issues(
        fedi(
          {
            p: {
              address: "10.0.0.2",
              services: ["peertube"],
              serviceOptions: { peertube: { options: { nope: true } } },
            },
            g: garageHost,
          },
          { peertube: true },
        ),
      ),
    ).toEqual([
      expect.objectContaining({ path: "deployments.f.hosts.p.serviceOptions.peertube.options.nope" }),
    ]);
  });

  it("checks nginx.service on a host with vhost checks, and redis-pixelfed (on by default)", () => {
    const { desired } = parseConfig(
      fedi({ px: { address: "10.0.0.3", services: ["pixelfed"] }, g: garageHost }, { pixelfed: true }),
    );
    const px = allHosts(desired).find((h) => h.name === "px")!;
    expect(px.units.find((u) => u.unit === "nginx.service")).toMatchObject({ oneshot: false });
    expect(px.units.find((u) => u.unit === "redis-pixelfed.service")?.conditional).toBeUndefined();
    expect(px.http[0]!.units).toEqual(["nginx.service", "phpfpm-pixelfed.service"]);
  });

  it("probes GoToSocial at 127.0.0.1:8080 on a local host, and needs a vhost for a remote one", () => {
    const local = parseConfig(
      fedi({ g: { address: "localhost", services: ["gotosocial"] } }, { gotosocial: true }),
    );
    expect(allHosts(local.desired)[0]!.http.map((c) => c.url)).toEqual([
      "http://127.0.0.1:8080/livez",
      "http://127.0.0.1:8080/readyz",
    ]);
    expect(
      issues(fedi({ g: { address: "10.0.0.5", services: ["gotosocial"] } }, { gotosocial: true })),
    ).toEqual([
      expect.objectContaining({ path: "deployments.f.hosts.g.serviceOptions.gotosocial.hostname" }),
      expect.objectContaining({ path: "deployments.f.hosts.g.serviceOptions.gotosocial.hostname" }),
    ]);
  });

  it("adds a host's own units and checks to the catalog's", () => {
    const { desired } = parseConfig(
      fedi(
        {
          g: {
            address: "10.0.0.5",
            services: ["gotosocial"],
            serviceOptions: { gotosocial: { hostname: "gts.example.org" } },
            units: ["extra.service"],
            http: [{ name: "home", url: "https://gts.example.org/" }],
          },
        },
        { gotosocial: true },
      ),
    );
    const host = allHosts(desired)[0]!;
    expect(host.units.map((u) => u.unit)).toEqual(["gotosocial.service", "nginx.service", "extra.service"]);
    expect(host.http.map((c) => c.id)).toEqual([
      "http:gotosocial-livez",
      "http:gotosocial-readyz",
      "http:home",
    ]);
  });

  it("refuses a service enabled but placed on no host", () => {
    const list = issues(
      fedi({ g: { address: "10.0.0.5", services: ["garage"] } }, { garage: true, mastodon: true }),
    );
    expect(list).toEqual([expect.objectContaining({ path: "deployments.f.fediversity.mastodon.enable" })]);
  });

  it("refuses a service placed on a host but not enabled", () => {
    const list = issues(
      fedi({ g: { address: "10.0.0.5", services: ["garage", "peertube"] } }, { garage: true }),
    );
    expect(list).toEqual([expect.objectContaining({ path: "deployments.f.hosts.g.services" })]);
  });

  it("refuses an unknown service name", () => {
    const list = issues(fedi({ g: { address: "10.0.0.5", services: ["friendica"] } }, {}));
    expect(list).toEqual([expect.objectContaining({ path: "deployments.f.hosts.g.services[0]" })]);
  });

  it("needs a hostname when there is no fediversity domain", () => {
    const list = issues({
      deployments: { d: { flake: "/srv", hosts: { h: { address: "10.0.0.1", services: ["peertube"] } } } },
    });
    expect(list.map((i) => i.path)).toEqual(["deployments.d.hosts.h.serviceOptions.peertube.hostname"]);
  });
});
