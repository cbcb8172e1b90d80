import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { createMetrics } from "../../../src/metrics.js";
import { probeSelf, publishSelf } from "../../../src/probes/self.js";
import { createTransport } from "../../../src/probes/transports/index.js";
import { freePort } from "../../helpers/redis.js";

const metricsText = readFileSync(
  new URL("../../fixtures/systemctl/node_exporter/metrics.txt", import.meta.url),
  "utf8",
);
let server: Server;
let url: string;
let status = 200;

beforeAll(async () => {
  server = createServer((_, res) => {
    res.statusCode = status;
    res.setHeader("content-type", "text/plain; version=0.0.4");
    res.end(metricsText);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const spec = (u: string) => ({ transport: { kind: "exporter", url: u } }) as unknown as HostSpec;

describe("exporter transport", () => {
  it("reads unit states from node_exporter over HTTP and cannot restart", async () => {
    const t = createTransport(spec(url), { runtimeDir: "/run/nixguard" });
    try {
      const facts = await t.fetch(["mastodon-web.service", "peertube.service"], AbortSignal.timeout(5000));
      expect(facts.units["peertube.service"]!.activeState).toBe("failed");
      await expect(t.restart(["peertube.service"], AbortSignal.timeout(5000))).rejects.toMatchObject({
        code: "COMMAND_NOT_FOUND",
        message: expect.stringContaining("read-only"),
      });
      status = 503;
      await expect(t.fetch(["a.service"], AbortSignal.timeout(5000))).rejects.toMatchObject({
        code: "PROBE_UNREACHABLE",
      });
    } finally {
      status = 200;
      await t.close();
    }
  });

  it("a closed port is unreachable", async () => {
    const t = createTransport(spec(`http://127.0.0.1:${await freePort()}/metrics`), {
      runtimeDir: "/run/nixguard",
    });
    try {
      await expect(t.fetch(["a.service"], AbortSignal.timeout(5000))).rejects.toMatchObject({
        code: "PROBE_UNREACHABLE",
        message: expect.stringContaining("ECONNREFUSED"),
      });
    } finally {
      await t.close();
    }
  });
});

describe("probeSelf", () => {
  it("reads load, memory and the filesystems of the state dir and /nix/store", async () => {
    const paths = { stateDir: tmpdir(), nixStore: "/nix/store" };
    const r = await probeSelf(paths);
    expect(r.load).toHaveLength(3);
    expect(r.cpus).toBeGreaterThan(0);
    expect(r.memory.totalBytes).toBeGreaterThan(0);
    expect(r.memory.usedFraction).toBeGreaterThan(0);
    expect(r.memory.usedFraction).toBeLessThan(1);
    expect(r.filesystems.map((f) => f.path)).toEqual([tmpdir(), "/nix/store"]);
    for (const f of r.filesystems) {
      expect(f.sizeBytes).toBeGreaterThan(0);
      expect(f.usedFraction).toBeGreaterThan(0);
    }
    const m = createMetrics({ version: "t", processMetrics: false });
    publishSelf(m, r, paths);
    const text = await m.registry.metrics();
    expect(text).toMatch(/nixguard_self_resource_used_ratio\{resource="nix-store"\} 0\.\d+/);
    expect(text).toMatch(/nixguard_self_resource_used_ratio\{resource="memory"\} 0\.\d+/);
  });
});
