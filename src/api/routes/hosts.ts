import type { FastifyInstance } from "fastify";
import { HOST_STATES, type HostState } from "../../controller/types.js";
import type { RouteOptions } from "../app.js";
import {
  arr,
  bool,
  CommandBody,
  HostRefQuery,
  NameParams,
  obj,
  responses,
  str,
  strEnum,
} from "../schemas/common.js";
import { HoldSchema, HostGenerationsSchema, ResetResultSchema } from "../schemas/fleet.js";
import { NameSchema, UnitNameSchema } from "../schemas/grammar.js";
import { HostDetailSchema, HostHealthSchema, HostObservationSchema } from "../schemas/health.js";
import { CommandResultSchema } from "../schemas/jobs.js";
import { serializedOnce } from "../serialized.js";
import { commandContext, hostRef } from "./context.js";

interface HostRoute {
  Params: { name: string };
  Querystring: { deployment?: string };
  Body: { force?: boolean };
}
interface RollbackRoute extends HostRoute {
  Body: { force?: boolean; to?: string };
}
interface UnitRoute extends HostRoute {
  Params: { name: string; unit: string };
}

export async function hostRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  const { control } = opts;
  const sendDetail = serializedOnce();

  app.get<{ Querystring: { state?: HostState; deployment?: string } }>(
    "/hosts",
    {
      config: { auth: "read" },
      schema: {
        summary: "Hosts' health, optionally only those in one state or deployment",
        querystring: obj({ state: strEnum(HOST_STATES), deployment: NameSchema }),
        response: responses({ 200: arr(HostHealthSchema) }),
      },
    },
    async (req) => control.hosts(req.query),
  );

  app.get<HostRoute>(
    "/hosts/:name",
    {
      config: { auth: "read" },
      schema: {
        summary: "One host: every check with state, reason, since; the last observation",
        params: NameParams,
        querystring: HostRefQuery,
        response: responses({ 200: HostDetailSchema }),
      },
    },
    async (req, reply) =>
      sendDetail(reply, await control.host(hostRef(req.params.name, req.query.deployment))),
  );

  app.post<HostRoute>(
    "/hosts/:name/probe",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Probe the host now and return the observation",
        params: NameParams,
        querystring: HostRefQuery,
        body: CommandBody,
        response: responses({ 200: HostObservationSchema }),
      },
    },
    async (req) => control.probeHost(hostRef(req.params.name, req.query.deployment), commandContext(req)),
  );

  app.post<UnitRoute>(
    "/hosts/:name/units/:unit/restart",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Queue a restart of one unit (409 when paused/maintenance/quarantined unless force)",
        params: obj({ name: NameSchema, unit: UnitNameSchema }, ["name", "unit"]),
        querystring: HostRefQuery,
        body: CommandBody,
        response: responses({ 202: CommandResultSchema }),
      },
    },
    async (req, reply) =>
      reply
        .code(202)
        .send(
          await control.restartUnit(
            hostRef(req.params.name, req.query.deployment),
            req.params.unit,
            commandContext(req),
          ),
        ),
  );

  app.post<HostRoute>(
    "/hosts/:name/reset",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Clear the host's quarantine, backoff and budget",
        params: NameParams,
        querystring: HostRefQuery,
        body: CommandBody,
        response: responses({ 200: ResetResultSchema }),
      },
    },
    async (req) => control.resetHost(hostRef(req.params.name, req.query.deployment), commandContext(req)),
  );

  app.get<HostRoute>(
    "/hosts/:name/generations",
    {
      config: { auth: "read" },
      schema: {
        summary: "Generations NixGuard saw the host run (newest switch first), their verdicts, the hold",
        params: NameParams,
        querystring: HostRefQuery,
        response: responses({ 200: HostGenerationsSchema }),
      },
    },
    async (req) => control.generations(hostRef(req.params.name, req.query.deployment)),
  );

  app.post<RollbackRoute>(
    "/hosts/:name/rollback",
    {
      config: { auth: "admin" },
      schema: {
        summary:
          "Queue a rollback to `to` (store path or profile generation number), else to the newest known-good generation",
        params: NameParams,
        querystring: HostRefQuery,
        body: obj({
          force: { ...bool, description: "Run despite pause or maintenance (recorded in the event)" },
          to: str({ "x-grammar": "rollbackTarget", description: "Store path or profile generation number" }),
        }),
        response: responses({ 202: CommandResultSchema }),
      },
    },
    async (req, reply) => {
      const to = req.body?.to;
      const target = to === undefined ? undefined : /^\d+$/.test(to) ? Number(to) : to;
      const ref = hostRef(req.params.name, req.query.deployment);
      return reply.code(202).send(await control.rollback(ref, target, commandContext(req)));
    },
  );

  app.post<HostRoute>(
    "/hosts/:name/release",
    {
      config: { auth: "admin" },
      schema: {
        summary:
          "End the host's hold: automatic redeploys may bring any generation again (404 when not held)",
        params: NameParams,
        querystring: HostRefQuery,
        body: CommandBody,
        response: responses({ 200: obj({ released: HoldSchema }, ["released"]) }),
      },
    },
    async (req) => control.release(hostRef(req.params.name, req.query.deployment), commandContext(req)),
  );
}
