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

/** Pages that go wrong, by path. */
function odd(path: string | undefined, res: import("node:http").ServerResponse): boolean {
  if (path === "/declared-huge") {
    res.writeHead(200, { "content-length": String(32 * 1024 * 1024) });
    res.write("# a page that says it is 32 MB\n");
    return true;
  }
  if (path === "/endless") {
    // No length, and more than any node_exporter page: refused once past 16 MB.
    res.writeHead(200);
    const chunk = `# filler ${"x".repeat(64 * 1024)}\n`;
    const more = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once("drain", more);
    };
    more();
    return true;
  }
  if (path === "/stalls") {
    res.writeHead(200);
    res.write("# HELP node_load1 1m load average.\n"); // and nothing more
    return true;
  }
  return false;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if (odd(req.url, res)) return;
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

  it("refuses a page too large (declared or sent) and times out a stalled one, leaving no connection", async () => {
    const open = () => new Promise<number>((r) => server.getConnections((_, n) => r(n)));
    const base = url.replace(/\/metrics$/, "");
    const at = (path: string) => createTransport(spec(`${base}${path}`), { runtimeDir: "/run/nixguard" });
    const huge = at("/declared-huge");
    const endless = at("/endless");
    const stalls = at("/stalls");
    try {
      await expect(huge.fetch(["a.service"], AbortSignal.timeout(5000))).rejects.toMatchObject({
        code: "PROBE_PARSE",
        message: expect.stringContaining(`body of ${32 * 1024 * 1024} bytes is too large`),
      });
      await expect(endless.fetch(["a.service"], AbortSignal.timeout(20_000))).rejects.toMatchObject({
        code: "PROBE_PARSE",
        message: expect.stringContaining("is too large"),
      });
      const t0 = Date.now();
      await expect(stalls.fetch(["a.service"], AbortSignal.timeout(300))).rejects.toMatchObject({
        code: "PROBE_TIMEOUT",
      });
      expect(Date.now() - t0).toBeLessThan(3000);
      // The refused and the stalled exchanges left no connection behind.
      await new Promise((r) => setTimeout(r, 100));
      expect(await open()).toBe(0);
    } finally {
      await Promise.all([huge, endless, stalls].map((t) => t.close()));
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
