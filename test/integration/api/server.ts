import { makeToken } from "../../../src/api/auth.js";
import { type ListeningApi, startServer } from "../../../src/api/server.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics, type Metrics } from "../../../src/metrics.js";
import { FakeControlPlane } from "../../helpers/fake-control-plane.js";

export const ADMIN = "integration-admin-token-0123456789";
export const READ = "integration-read-token-0123456789";

export interface Listening extends ListeningApi {
  control: FakeControlPlane;
  metrics: Metrics;
}

/** A real listening API (loopback, free port) over the fake control plane. */
export async function listen(
  control = new FakeControlPlane({ deployments: { fedi: ["garage", "mastodon"] } }),
): Promise<Listening> {
  const metrics = createMetrics({ version: "0.0.0-test" });
  const api = await startServer(
    {
      control,
      metrics,
      tokens: [makeToken("ops", "admin", ADMIN), makeToken("grafana", "read", READ)],
      logger: silentLogger(),
      config: { metricsAuth: false, bodyLimit: 65_536, rateLimit: { max: 100, window: 60_000 } },
    },
    "127.0.0.1:0",
  );
  return { ...api, control, metrics };
}
