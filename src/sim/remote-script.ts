import { listGenerationsLines, SWITCH_GONE_EXIT, switchLines } from "../probes/systemd/generations.js";
import type { SimHost } from "./fleet.js";
import { generationLines, onHost } from "./nixos-profile.js";

/**
 * A host's shell globs and tests its own filesystem, and a simulated host has none on the
 * machine running the simulator. Two statements of what NixGuard sends touch it: the generation
 * listing's walk over the profile links and the switch's `[ -x PATH/bin/switch-to-configuration ]`.
 * For exactly those scripts (rebuilt with NixGuard's own builders and compared whole) the
 * simulated host answers that first statement from its profile; the rest runs under /bin/sh
 * with the fakes first on PATH — readlink, nix-env, systemd-run — like any other remote command.
 */
export interface HostShellStep {
  stdout: string;
  stderr: string;
  /** The script ends here with this status. */
  exit?: number;
  /** Otherwise the rest of the script, for /bin/sh. */
  rest?: string;
}

const SWITCH = /^\[ -x '([^']+)'\/bin\/switch-to-configuration \] .* systemd-run --unit='([^']+)' /;

export function hostShellStep(host: SimHost, command: string): HostShellStep | undefined {
  const list = listGenerationsLines();
  if (command === list.join("; "))
    return { stdout: generationLines(host.profile), stderr: "", rest: list.slice(1).join("; ") };
  const m = SWITCH.exec(command);
  if (!m) return undefined;
  const [path, unit] = [m[1] as string, m[2] as string];
  let lines: string[];
  try {
    lines = switchLines(path, unit);
  } catch {
    return undefined; // not a value NixGuard would send: the real shell gets it as it is
  }
  if (command !== lines.join("; ")) return undefined;
  if (!onHost(host.profile, host.currentSystem, path))
    return { stdout: "", stderr: `nixguard: ${path} is not on this host\n`, exit: SWITCH_GONE_EXIT };
  return { stdout: "", stderr: "", rest: lines.slice(1).join("; ") };
}
