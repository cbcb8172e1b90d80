import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

const page = readFileSync(
  new URL("../../fixtures/systemctl/node_exporter/metrics.txt", import.meta.url),
  "utf8",
);

/**
 * For the test file: a real redis-server, a temp state directory and a local node_exporter page
 * (the fixture) for a host on the exporter transport; `probes` counts the page's reads.
 */
export function useExporterRig(name: string) {
  const rig = {
    redis: undefined as unknown as TestRedis,
    dir: "",
    url: "",
    probes: 0,
    /** A config host probed through this page. */
    host: () => ({
      address: "127.0.0.1",
      transport: "exporter",
      exporterUrl: rig.url,
      units: ["mastodon-web.service"],
    }),
  };
  let server: Server | undefined;
  beforeAll(async () => {
    rig.redis = await startRedis();
    rig.dir = mkdtempSync(join(tmpdir(), `nixguard-${name}-`));
    server = createServer((_req, res) => {
      rig.probes++;
      res.setHeader("content-type", "text/plain; version=0.0.4");
      res.end(page);
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    rig.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await rig.redis?.stop();
    if (rig.dir) rmSync(rig.dir, { recursive: true, force: true });
  });
  return rig;
}
