import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { RouteOptions } from "../app.js";
import type { Readiness, ReadyCheck } from "../control-plane-port.js";
import { metricsChunks } from "../metrics-text.js";
import { arr, bool, int, obj, str, strEnum } from "../schemas/common.js";

const READY_REASONS: Record<ReadyCheck, string> = {
  configLoaded: "config not loaded",
  redis: "Redis unreachable",
  leaderKnown: "no controller holds the leader lease",
};

const ReadySchema = obj(
  {
    ready: bool,
    checks: obj({ configLoaded: bool, redis: bool, leaderKnown: bool }),
    reasons: arr(str()),
    embeddedRedis: obj(
      {
        state: strEnum(["running", "restarting", "given-up", "stopped"]),
        restarts: int(),
        lastExit: str(),
        policy: str(),
      },
      ["state", "restarts", "policy"],
    ),
  },
  ["ready", "reasons"],
);

/** Liveness, readiness and the Prometheus scrape: outside /api/v1, open to probes and Prometheus. */
export async function systemRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  app.get(
    "/healthz",
    {
      config: { auth: "public" },
      schema: { summary: "Process alive", response: { 200: obj({ status: str() }, ["status"]) } },
    },
    async () => ({ status: "ok" }),
  );

  app.get(
    "/readyz",
    {
      config: { auth: "public" },
      schema: {
        summary: "Config loaded, Redis reachable, leader known (503 with the reasons otherwise)",
        response: { 200: ReadySchema, 503: ReadySchema },
      },
    },
    async (_req, reply) => {
      let checks: Readiness;
      try {
        checks = await opts.control.readiness();
      } catch {
        checks = { configLoaded: false, redis: false, leaderKnown: false };
      }
      const { embeddedRedis, ...yesNo } = checks;
      const reasons = (Object.keys(READY_REASONS) as ReadyCheck[])
        .filter((k) => !yesNo[k])
        .map((k) => READY_REASONS[k]);
      if (embeddedRedis && embeddedRedis.state !== "running")
        reasons.push(
          `embedded redis-server ${embeddedRedis.state} (${embeddedRedis.restarts} restart(s); ${embeddedRedis.policy})`,
        );
      return reply.code(reasons.length === 0 ? 200 : 503).send({
        ready: reasons.length === 0,
        checks: yesNo,
        reasons,
        ...(embeddedRedis ? { embeddedRedis } : {}),
      });
    },
  );

  app.get(
    "/metrics",
    {
      config: { auth: opts.metricsAuth ? "read" : "public" },
      schema: {
        summary: "Prometheus metrics (text exposition format)",
        produces: ["text/plain"],
        response: { 200: str() },
      },
    },
    async (_req, reply) => {
      // Streamed a chunk at a time at the reader's pace (metrics-text.ts says why).
      const chunks = await metricsChunks(opts.metrics.registry);
      return reply
        .type(opts.metrics.registry.contentType)
        .send(Readable.from(chunks, { objectMode: true, highWaterMark: 1 }));
    },
  );
}
