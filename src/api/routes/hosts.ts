import type { FastifyInstance } from "fastify";
import { HOST_STATES, type HostState } from "../../controller/types.js";
import type { RouteOptions } from "../app.js";
import { arr, CommandBody, HostRefQuery, NameParams, obj, responses, strEnum } from "../schemas/common.js";
import { ResetResultSchema } from "../schemas/fleet.js";
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
}
