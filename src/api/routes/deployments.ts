import type { FastifyInstance } from "fastify";
import type { RouteOptions } from "../app.js";
import { arr, CommandBody, NameParams, responses } from "../schemas/common.js";
import { DeploymentDetailSchema, DeploymentSummarySchema, ResetResultSchema } from "../schemas/fleet.js";
import { CommandResultSchema } from "../schemas/jobs.js";
import { commandContext } from "./context.js";

interface NameRoute {
  Params: { name: string };
}
interface NameCommandRoute extends NameRoute {
  Body: { force?: boolean };
}

export async function deploymentRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  const { control } = opts;
  app.get(
    "/deployments",
    {
      config: { auth: "read" },
      schema: {
        summary: "Deployments with host counts by state",
        response: responses({ 200: arr(DeploymentSummarySchema) }),
      },
    },
    async () => control.deployments(),
  );

  app.get<NameRoute>(
    "/deployments/:name",
    {
      config: { auth: "read" },
      schema: {
        summary: "One deployment with every host's health",
        params: NameParams,
        response: responses({ 200: DeploymentDetailSchema }),
      },
    },
    async (req) => control.deployment(req.params.name),
  );

  app.post<NameCommandRoute>(
    "/deployments/:name/redeploy",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Queue a nixops4 apply of the deployment (409 when paused/maintenance unless force)",
        params: NameParams,
        body: CommandBody,
        response: responses({ 202: CommandResultSchema }),
      },
    },
    async (req, reply) => reply.code(202).send(await control.redeploy(req.params.name, commandContext(req))),
  );

  app.post<NameCommandRoute>(
    "/deployments/:name/reset",
    {
      config: { auth: "admin" },
      schema: {
        summary: "Clear the deployment's quarantine, backoff and budget",
        params: NameParams,
        body: CommandBody,
        response: responses({ 200: ResetResultSchema }),
      },
    },
    async (req) => control.resetDeployment(req.params.name, commandContext(req)),
  );
}
