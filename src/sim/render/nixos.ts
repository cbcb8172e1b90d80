import { randomBytes } from "node:crypto";
import { SYSTEM_PROFILE } from "../../probes/systemd/generations.js";
import type { Fleet, SimHost } from "../fleet.js";
import { onHost, setProfile } from "../nixos-profile.js";
import { type CommandResult, fail } from "./result.js";

/**
 * `nix-env -p PROFILE --set PATH` and `systemd-run … -- PATH/bin/switch-to-configuration ACTION`
 * as a simulated NixOS host answers them: the two steps of a switch the way nixops4-nixos (and
 * NixGuard's rollback) makes it. Messages are Nix 2.x's and systemd 252's.
 */

/** How long a simulated switch-to-configuration runs (it restarts the changed units). */
export const SIM_SWITCH_MS = 1_000;

const STORE_SYSTEM = /^\/nix\/store\/[0-9a-z]{32}-[^/]+$/;

export function nixEnv(host: SimHost, argv: readonly string[]): CommandResult {
  let profile: string | undefined;
  let set: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-p" || a === "--profile") profile = argv[++i];
    else if (a.startsWith("--profile=")) profile = a.slice(10);
    else if (a === "--set") set = argv[++i];
    else return fail(`error: unrecognised flag '${a}'\nTry 'nix-env --help' for more information.\n`);
  }
  if (set === undefined)
    return fail("error: no operation specified\nTry 'nix-env --help' for more information.\n");
  if (profile !== SYSTEM_PROFILE)
    return fail(`error: opening lock file '${profile ?? "~/.nix-profile"}.lock': Permission denied\n`);
  if (!STORE_SYSTEM.test(set) || !onHost(host.profile, host.currentSystem, set))
    return fail(`error: path '${set}' is not valid\n`);
  setProfile(host.profile, set);
  return { stdout: "", stderr: "", code: 0 };
}

interface RunOptions {
  unit: string;
  wait: boolean;
  quiet: boolean;
  command: string[];
}

// systemd-run's options NixGuard and nixops4-nixos use, and which of them take a value.
const RUN_FLAGS = new Set([
  "--wait",
  "--collect",
  "-G",
  "--quiet",
  "-q",
  "--pipe",
  "-P",
  "--no-ask-password",
  "--same-dir",
]);
const RUN_VALUES = new Set(["--unit", "-u", "--service-type", "-E", "--setenv", "-p", "--property"]);

function parseRun(argv: readonly string[]): RunOptions | CommandResult {
  const o: RunOptions = {
    unit: `run-u${randomBytes(2).readUInt16BE() % 1000}.service`,
    wait: false,
    quiet: false,
    command: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-")) break;
    const [name, inline] =
      a.startsWith("--") && a.includes("=")
        ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
        : [a, undefined];
    if (RUN_FLAGS.has(name) && inline === undefined) {
      if (name === "--wait") o.wait = true;
      if (name === "--quiet" || name === "-q") o.quiet = true;
      continue;
    }
    if (!RUN_VALUES.has(name)) return fail(`systemd-run: unrecognized option '${a}'\n`);
    const value = inline ?? argv[++i];
    if (value === undefined) return fail(`systemd-run: option '${a}' requires an argument\n`);
    if (name === "--unit" || name === "-u") o.unit = value.includes(".") ? value : `${value}.service`;
  }
  o.command = argv.slice(i) as string[];
  if (o.command.length === 0) return fail("Command line to execute required.\n");
  return o;
}

export function systemdRun(fleet: Fleet, host: SimHost, argv: readonly string[]): CommandResult {
  const o = parseRun(argv);
  if ("code" in o) return o;
  const [exe, action] = o.command as [string, string | undefined];
  const m = /^(\/nix\/store\/[^/]+)\/bin\/switch-to-configuration$/.exec(exe);
  if (!m || !onHost(host.profile, host.currentSystem, m[1] as string))
    return fail(`Failed to find executable ${exe}: No such file or directory\n`);
  // Only switch and test activate; boot and dry-activate end at once, anything else is a usage error.
  const id =
    action === "switch" || action === "test"
      ? fleet.startSwitch(host.def.name, m[1] as string, SIM_SWITCH_MS)
      : action === "boot" || action === "dry-activate"
        ? "0"
        : "1";
  // switch-to-configuration's own output goes to the journal: systemd-run has no --pipe here.
  const invocation = randomBytes(16).toString("hex");
  const stderr = o.quiet ? "" : `Running as unit: ${o.unit}; invocation ID: ${invocation}\n`;
  if (!o.wait) return { stdout: "", stderr, code: 0 };
  return {
    stdout: "",
    stderr,
    code: 0,
    resumes: { delayMs: SIM_SWITCH_MS, endpoint: `systemd-run-finish/${id}/${o.quiet ? "q" : "v"}` },
  };
}

/** `systemd-run --wait` when its unit ended: the summary (unless --quiet) and the unit's status. */
export function systemdRunEnd(fleet: Fleet, rest: string): CommandResult {
  const [id = "", verbosity] = rest.split("/");
  const code = /^\d+$/.test(id) ? Number(id) : (fleet.finishSwitch(id) ?? 1);
  const stderr =
    verbosity === "q"
      ? ""
      : `Finished with result: ${code === 0 ? "success" : "exit-code"}\n` +
        `Main processes terminated with: code=exited/status=${code}\n` +
        `Service runtime: ${(SIM_SWITCH_MS / 1000).toFixed(3)}s\n`;
  // --wait: the service's exit status when it failed with one (systemd run.c).
  return { stdout: "", stderr, code };
}
