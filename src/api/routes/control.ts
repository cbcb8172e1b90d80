import type { FastifyInstance } from "fastify";
import type { RouteOptions } from "../app.js";
import type { PauseScope } from "../control-plane-port.js";
import { FieldError } from "../http-error.js";
import { arr, bool, ConfigIssueSchema, int, obj, responses, str } from "../schemas/common.js";
import { PauseInfoSchema, StatusSchema } from "../schemas/fleet.js";
import { NameSchema } from "../schemas/grammar.js";
import { ReconcileResultSchema } from "../schemas/jobs.js";
import { parseScope } from "../scope.js";
import { toEpochMs } from "../time.js";
import { commandContext } from "./context.js";

const Reason = str({
  minLength: 1,
  maxLength: 500,
  pattern: "^[^\\u0000-\\u001f\\u007f]+$",
  description: "Why, in a few words (recorded in the event)",
});
const Scope = str({
  "x-grammar": "pauseScope",
  description: "global, deployment/<name>, host/<name> or host/<deployment>/<name>",
});
const force = { ...bool, description: "Run despite pause or maintenance (recorded in the event)" };

interface ReconcileRoute {
  Body: { deployments?: string[]; dryRun?: boolean; force?: boolean };
}
interface PauseRoute {
  Body: { scope: string; reason: string; until?: string };
}

/** Fleet-wide status and commands: reconcile, pause/resume, config reload. */
export async function controlRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  const { control } = opts;

  app.get(
    "/status",
    {
      config: { auth: "read" },
      schema: {
        summary: "Mode, leader, pauses, breaker, maintenance, host counts by state, queue counts",
        response: responses({ 200: StatusSchema }),
      },
    },
    async () => control.status(),
  );

  app.post<ReconcileRoute>(
    "/reconcile",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Plan now (all or the named deployments); 202 with planned actions and job ids",
        body: obj({
          deployments: arr(NameSchema, { minItems: 1, maxItems: 1000, uniqueItems: true }),
          dryRun: bool,
          force,
        }),
        response: responses({ 202: ReconcileResultSchema }),
      },
    },
    async (req, reply) => {
      const { deployments, dryRun } = req.body;
      const request = { ...(deployments ? { deployments } : {}), dryRun: dryRun === true };
      return reply.code(202).send(await control.reconcile(request, commandContext(req)));
    },
  );

  app.post<PauseRoute>(
    "/pause",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Pause remediation in a scope, until resumed or until `until`",
        body: obj(
          {
            scope: Scope,
            reason: Reason,
            until: str({ "x-grammar": "timeOrDuration", description: "ISO 8601 time or duration from now" }),
          },
          ["scope", "reason"],
        ),
        response: responses({ 200: PauseInfoSchema }),
      },
    },
    async (req) => {
      const scope = parseScope(req.body.scope) as PauseScope;
      const { reason, until } = req.body;
      if (until === undefined) return control.pause({ scope, reason }, commandContext(req));
      const untilMs = toEpochMs(until, 1);
      if (!(untilMs > Date.now())) throw new FieldError("body.until", "must be in the future");
      return control.pause({ scope, reason, until: untilMs }, commandContext(req));
    },
  );

  app.post<PauseRoute>(
    "/resume",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Lift the pause of a scope (404 when that scope is not paused)",
        body: obj({ scope: Scope, reason: Reason }, ["scope", "reason"]),
        response: responses({ 200: obj({ resumed: PauseInfoSchema }, ["resumed"]) }),
      },
    },
    async (req) =>
      control.resume(
        { scope: parseScope(req.body.scope) as PauseScope, reason: req.body.reason },
        commandContext(req),
      ),
  );

  app.post(
    "/config/reload",
    {
      config: { auth: "admin" },
      schema: {
        summary:
          "Re-read the config file; an invalid one is refused (422 with its issues), the old one stays",
        body: obj({}),
        response: responses({
          200: obj({ ok: bool, deployments: int(), hosts: int() }, ["ok", "deployments", "hosts"]),
          422: obj({ statusCode: int(), code: str(), message: str(), issues: arr(ConfigIssueSchema) }, [
            "statusCode",
            "code",
            "message",
            "issues",
          ]),
        }),
      },
    },
    async (req, reply) => {
      const result = await control.reloadConfig(commandContext(req));
      if (result.ok) return result;
      return reply.code(422).send({
        statusCode: 422,
        code: "CONFIG_INVALID",
        message: `new config refused (${result.issues.length} issue(s)); the running config is unchanged`,
        issues: result.issues,
      });
    },
  );
}
