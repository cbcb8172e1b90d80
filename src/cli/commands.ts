import type { Command } from "commander";
import { registerActions } from "./commands/actions.js";
import { registerCompletion } from "./commands/completion.js";
import { registerEvents } from "./commands/events.js";
import { registerGenerations } from "./commands/generations.js";
import { registerFleet } from "./commands/hosts.js";
import { registerJobs } from "./commands/jobs.js";
import { registerPause } from "./commands/pause.js";
import { registerStatus } from "./commands/status.js";
import { type ClientIo, processIo } from "./io.js";
import { commandKit } from "./options.js";

export type { ClientIo } from "./io.js";

/**
 * The API's client side, one file per command group under commands/. Every command loads only
 * commander and the small client (no fastify, zod or BullMQ): `nixguard --version` and `status`
 * start fast. Errors are thrown (NixGuardError codes USAGE, API_UNAVAILABLE, API_ERROR, or an
 * ExitError with its own code); program.ts maps them to exit codes.
 */
export function registerClientCommands(
  program: Command,
  io: ClientIo = processIo,
  signal?: AbortSignal,
): void {
  const kit = commandKit(io);
  registerStatus(program, kit);
  registerFleet(program, kit);
  registerJobs(program, kit);
  registerActions(program, kit);
  registerGenerations(program, kit);
  registerPause(program, kit);
  registerEvents(program, kit, signal);
  registerCompletion(program, kit);
}
