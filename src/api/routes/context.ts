import type { FastifyRequest } from "fastify";
import type { CommandContext, HostRef } from "../control-plane-port.js";

/** Who asked (the token's name, recorded in events) and whether to pass pause/maintenance. */
export function commandContext(req: FastifyRequest): CommandContext {
  const body = req.body as { force?: boolean } | undefined;
  return { actor: req.principal?.name ?? "anonymous", force: body?.force === true };
}

export function hostRef(name: string, deployment: string | undefined): HostRef {
  return deployment ? { host: name, deployment } : { host: name };
}
