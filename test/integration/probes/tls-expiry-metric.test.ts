import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { type DemoTls, startDemoTls } from "../../../src/demo/tls.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { probeHttp } from "../../../src/probes/http/probe.js";
import type { HostObservation } from "../../../src/probes/types.js";
import { HealthBook } from "../../../src/runtime/health-book.js";

/**
 * nixguard_http_tls_expiry_timestamp_seconds comes from real data (issue 19, item 5): an HTTP
 * check from a config file, probing a real HTTPS server on loopback with an openssl certificate,
 * judged by the health book, read from the registry as a scrape reads it. The value is the
 * certificate's notAfter as openssl prints it.
 */
const HOSTNAME = "status.fedi.example.org";
let dir: string;
let tls: DemoTls;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "nixguard-tls-metric-"));
  tls = await startDemoTls(dir, HOSTNAME, 9);
});
afterAll(async () => {
  await tls?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the TLS expiry series is the certificate's notAfter, seen by the HTTP check", async () => {
  const loaded = parseConfig({
    deployments: {
      fedi: {
        flake: "/srv/fedi",
        target: "fedi",
        hosts: {
          web: {
            address: "127.0.0.1",
            transport: "local",
            http: [{ name: "status", url: tls.url, resolve: "127.0.0.1", caFile: tls.certFile }],
          },
        },
      },
    },
  });
  const spec = loaded.desired.deployments[0]!.hosts[0]!;
  const metrics = createMetrics({ version: "test", processMetrics: false });
  const book = new HealthBook({
    getConfig: () => loaded.config,
    metrics,
    logger: silentLogger(),
    isSuppressed: () => false,
    onHealth: () => {},
  });

  const result = await probeHttp(spec.http[0]!, new AbortController().signal);
  expect(result).toMatchObject({ ok: true, status: 200 });
  const obs: HostObservation = {
    deployment: "fedi",
    host: "web",
    at: Date.now(),
    durationMs: result.durationMs,
    reachable: true,
    facts: { units: {}, disks: [] },
    http: [result],
  };
  book.observe(spec, obs);

  const notAfter = execFileSync("openssl", ["x509", "-in", tls.certFile, "-noout", "-enddate"], {
    encoding: "utf8",
  });
  const expiry = Date.parse(notAfter.trim().replace("notAfter=", "")) / 1000;
  // 9 days from now, give or take the second openssl rounds to.
  expect(Math.abs(expiry - (Date.now() / 1000 + 9 * 86400))).toBeLessThan(120);
  const text = await metrics.registry.metrics();
  expect(text).toContain(
    `nixguard_http_tls_expiry_timestamp_seconds{deployment="fedi",host="web",check="http:status"} ${expiry}`,
  );
});
