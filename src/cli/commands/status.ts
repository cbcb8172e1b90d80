import type { Command } from "commander";
import type { FleetStatus } from "../../api/control-plane-port.js";
import { EXIT, ExitError } from "../../errors.js";
import { formatStatus } from "../format.js";
import { type CommandKit, type Common, clientCommand } from "../options.js";

/** Why the fleet is not healthy (empty when it is): what `status` exits 2 for. */
export function unhealthyReasons(s: FleetStatus): string[] {
  const out: string[] = [];
  if (s.hosts.failing > 0) out.push(`${s.hosts.failing} host(s) failing`);
  if (s.hosts.unreachable > 0) out.push(`${s.hosts.unreachable} host(s) unreachable`);
  if (s.breaker.open) out.push("circuit breaker open");
  if (s.quarantined.length > 0) out.push(`${s.quarantined.length} quarantine(s)`);
  if (!s.leader.known) out.push("no controller holds the leader lease");
  return out;
}

export function registerStatus(program: Command, kit: CommandKit): void {
  clientCommand(
    program,
    "status",
    "mode, leader, pauses, breaker, maintenance, host and queue counts; exits 2 when the fleet is unhealthy (a host failing or unreachable, breaker open, a quarantine, no leader)",
  ).action(async (opts: Common) => {
    const s = await kit.client(opts).get<FleetStatus>("/api/v1/status");
    kit.print(opts, s, () => formatStatus(s, kit.io.now()));
    const reasons = unhealthyReasons(s);
    if (reasons.length > 0)
      throw new ExitError("FLEET_UNHEALTHY", EXIT.UNHEALTHY, `unhealthy: ${reasons.join(", ")}`);
  });
}
