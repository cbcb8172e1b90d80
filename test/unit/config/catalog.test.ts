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
      fedi({ p: { address: "10.0.0.2", services: ["peertube"] } }, { peertube: true }),
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
    expect(host.http.find((c) => c.name === "mastodon-streaming")!.units).toHaveLength(3);
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

  it("puts Garage's admin health on the host address", () => {
    const { desired } = parseConfig(
      fedi({ g: { address: "10.0.0.5", services: ["garage"] } }, { garage: true }),
    );
    expect(allHosts(desired)[0]!.http[0]!.url).toBe("http://10.0.0.5:3903/health");
  });

  it("adds a host's own units and checks to the catalog's", () => {
    const { desired } = parseConfig(
      fedi(
        {
          g: {
            address: "10.0.0.5",
            services: ["gotosocial"],
            units: ["extra.service"],
            http: [{ name: "home", url: "https://gts.example.org/" }],
          },
        },
        { gotosocial: true },
      ),
    );
    const host = allHosts(desired)[0]!;
    expect(host.units.map((u) => u.unit)).toEqual(["gotosocial.service", "extra.service"]);
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
