import type { FastifyInstance } from "fastify";
import { type ApiConfig, buildApp } from "../../../src/api/app.js";
import { makeToken } from "../../../src/api/auth.js";
import { type Logger, silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { FakeControlPlane } from "../../helpers/fake-control-plane.js";

export const ADMIN_SECRET = "admin-secret-0123456789abcdef";
export const READ_SECRET = "read-secret-0123456789abcdef";
export const admin = { authorization: `Bearer ${ADMIN_SECRET}` };
export const reader = { authorization: `Bearer ${READ_SECRET}` };

export interface Fixture {
  app: FastifyInstance;
  control: FakeControlPlane;
  metrics: ReturnType<typeof createMetrics>;
}

/** An app over a small fake fleet: deployment `fedi` (garage, mastodon), `other` (mastodon, web). */
export async function fixture(
  opts: { config?: Partial<ApiConfig>; logger?: Logger; control?: FakeControlPlane } = {},
): Promise<Fixture> {
  const control =
    opts.control ??
    new FakeControlPlane({ deployments: { fedi: ["garage", "mastodon"], other: ["mastodon", "web"] } });
  const metrics = createMetrics({ version: "0.0.0-test", processMetrics: false });
  const app = await buildApp({
    control,
    metrics,
    tokens: [makeToken("ops", "admin", ADMIN_SECRET), makeToken("grafana", "read", READ_SECRET)],
    logger: opts.logger ?? silentLogger(),
    config: {
      metricsAuth: false,
      bodyLimit: 65_536,
      rateLimit: { max: 1000, window: 60_000 },
      ...opts.config,
    },
  });
  return { app, control, metrics };
}
