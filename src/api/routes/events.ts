import type { FastifyInstance } from "fastify";
import type { RouteOptions } from "../app.js";
import { type ControlPlane, NotFoundError } from "../control-plane-port.js";
import { arr, int, obj, responses, str } from "../schemas/common.js";
import { NameSchema } from "../schemas/grammar.js";
import { EventSchema } from "../schemas/jobs.js";
import { toEpochMs } from "../time.js";

interface EventsRoute {
  Querystring: { since?: string; limit: number; deployment?: string; host?: string };
}

export async function eventRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  app.get<EventsRoute>(
    "/events",
    {
      config: { auth: "read" },
      schema: {
        summary: "Recent events (detections, decisions, blocked actions, outcomes), oldest first",
        querystring: obj({
          since: str({
            "x-grammar": "timeOrDuration",
            description: 'ISO 8601 time, or a duration meaning "that long ago" (e.g. 1h)',
          }),
          limit: int({ minimum: 1, maximum: 1000, default: 100 }),
          deployment: NameSchema,
          host: NameSchema,
        }),
        response: responses({ 200: arr(EventSchema) }),
      },
    },
    async (req) => {
      const { since, ...rest } = req.query;
      await knownScope(opts.control, rest.deployment, rest.host);
      return opts.control.events(since === undefined ? rest : { ...rest, since: toEpochMs(since, -1) });
    },
  );
}

/**
 * A filter naming a deployment or host that does not exist is 404, as `GET /hosts?deployment=`
 * answers: an empty list would read as "nothing happened there" (issue 19).
 */
async function knownScope(control: ControlPlane, deployment?: string, host?: string): Promise<void> {
  if (deployment !== undefined) await control.deployment(deployment);
  if (host === undefined) return;
  const hosts = await control.hosts(deployment === undefined ? {} : { deployment });
  if (!hosts.some((h) => h.host === host)) throw new NotFoundError("host", host);
}
