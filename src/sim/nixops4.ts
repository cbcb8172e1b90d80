import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Fleet, SimHost } from "./fleet.js";
import { unitUp } from "./fleet.js";
import {
  applyingResource,
  COMPOSITE,
  clapError,
  closeMessage,
  creatingResource,
  nixops4Error,
  rustPanic,
  tracingLine,
} from "./render/nixops4-log.js";

/**
 * The fake nixops4's brain. The executable (bin.ts) only relays: `begin` answers with the
 * progress lines to print and how long to wait; after waiting, the executable calls `finish`,
 * which applies the deploy to the fleet and answers with the closing lines and exit code.
 * A fake killed while it waits never calls `finish`, so its deploy never lands — as when a
 * real apply is killed before switching.
 */

export interface Nixops4Behavior {
  mode: "ok" | "fail" | "panic" | "hang";
  /** How long an apply takes (ms). */
  delayMs: number;
  /** A successful apply moves the hosts to a new generation (a new flake commit). */
  newGeneration: boolean;
  /** After this many applies in `mode`, fall back to "ok" (undefined: stay). */
  times?: number;
}

export interface Nixops4Args {
  subcommand?: string;
  targets: string[];
  verbose: boolean;
  interactive: boolean;
  noInteractive: boolean;
  showTrace: boolean;
  overrideInputs: [string, string][];
  color?: string;
}

export interface ApplyRun {
  id: string;
  argv: string[];
  cwd: string;
  pid: number;
  tty: boolean;
  args: Nixops4Args;
  hosts: string[];
  startedAt: number;
  finishedAt?: number;
  exitCode?: number;
  mode: Nixops4Behavior["mode"];
  /** Another apply was running in the same flake directory when this one started (a lock bug). */
  overlapped: boolean;
  status: "running" | "succeeded" | "failed" | "panicked" | "hung" | "killed";
}

export type Step =
  | { kind: "exit"; stderr: string; stdout?: string; code: number }
  | { kind: "wait"; stderr: string; delayMs: number; finishId: string }
  | { kind: "hang"; stderr: string };

const FLAGS_WITH_VALUE = new Set(["--color", "--override-input"]);

export function parseNixops4Argv(argv: readonly string[]): Nixops4Args | { error: string } {
  const a: Nixops4Args = {
    targets: [],
    verbose: false,
    interactive: false,
    noInteractive: false,
    showTrace: false,
    overrideInputs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-v" || arg === "--verbose") a.verbose = true;
    else if (arg === "--interactive") a.interactive = true;
    else if (arg === "--no-interactive") a.noInteractive = true;
    else if (arg === "--show-trace") a.showTrace = true;
    else if (arg.startsWith("--color=")) a.color = arg.slice(8);
    else if (FLAGS_WITH_VALUE.has(arg)) {
      if (arg === "--color") {
        const v = argv[++i];
        if (v === undefined)
          return { error: clapError("a value is required for '--color <COLOR>' but none was supplied") };
        a.color = v;
      } else {
        const input = argv[++i];
        const ref = argv[++i];
        if (input === undefined || ref === undefined)
          return {
            error: clapError(
              "2 values required for '--override-input <INPUT> <FLAKE_REF>' but 1 was provided",
            ),
          };
        a.overrideInputs.push([input, ref]);
      }
    } else if (arg === "--") {
      a.targets.push(...argv.slice(i + 1));
      break;
    } else if (arg.startsWith("-")) return { error: clapError(`unexpected argument '${arg}' found`) };
    else if (a.subcommand === undefined) a.subcommand = arg;
    else a.targets.push(arg);
  }
  if (a.interactive && a.noInteractive)
    return { error: clapError("the argument '--interactive' cannot be used with '--no-interactive'") };
  if (a.color !== undefined && !["auto", "always", "never"].includes(a.color))
    return {
      error: clapError(
        `invalid value '${a.color}' for '--color <COLOR>'\n  [possible values: auto, always, never]`,
      ),
    };
  return a;
}

const needsChange = (fleet: Fleet, h: SimHost) =>
  h.currentSystem !== fleet.desiredSystem(h) ||
  [...h.units.values()].some((u) => !unitUp(u)) ||
  fleet.activeFaults().some((f) => f.spec.host === h.def.name && f.clearedBy !== "heal");

export class Nixops4Sim {
  behavior: Nixops4Behavior = { mode: "ok", delayMs: 2000, newGeneration: false };
  readonly runs: ApplyRun[] = [];
  private seq = 0;

  constructor(private readonly fleet: Fleet) {}

  setBehavior(b: Partial<Nixops4Behavior>): Nixops4Behavior {
    this.behavior = { ...this.behavior, ...b };
    if (b.times === undefined && "times" in b) delete this.behavior.times;
    return this.behavior;
  }

  /** The runs with their liveness refreshed: a run whose process is gone without finishing was killed. */
  list(): ApplyRun[] {
    for (const r of this.runs)
      if (r.status === "running" || r.status === "hung") if (!alive(r.pid)) r.status = "killed";
    return this.runs;
  }

  begin(argv: string[], cwd: string, pid: number, tty: boolean): Step {
    const now = this.fleet.now();
    const parsed = parseNixops4Argv(argv);
    if ("error" in parsed) return { kind: "exit", stderr: parsed.error, code: 2 };
    if (parsed.subcommand === undefined)
      return {
        kind: "exit",
        stderr: clapError(
          "'nixops4' requires a subcommand but one was not provided",
          "nixops4 [OPTIONS] <COMMAND>",
        ),
        code: 2,
      };
    if (parsed.subcommand !== "apply")
      return {
        kind: "exit",
        stderr: clapError(`unrecognized subcommand '${parsed.subcommand}'`, "nixops4 [OPTIONS] <COMMAND>"),
        code: 2,
      };
    if (!existsSync(join(cwd, "flake.nix")))
      return {
        kind: "exit",
        stderr: nixops4Error([
          `Could not load flake in ${cwd}`,
          `path '${cwd}' does not contain a 'flake.nix'`,
        ]),
        code: 1,
      };

    const targets =
      parsed.targets.length > 0 ? parsed.targets : this.fleet.layout.deployments.map((d) => d.target);
    const hosts: SimHost[] = [];
    for (const t of targets) {
      const resolved = this.fleet.resolveTarget(t);
      if (!resolved)
        return {
          kind: "exit",
          stderr: nixops4Error([
            `Failed to resolve component path '${t}'`,
            `member '${t.split(".").pop()}' not found`,
          ]),
          code: 1,
        };
      for (const h of resolved) if (!hosts.includes(h)) hosts.push(h);
    }
    this.list();
    const overlapped = this.runs.some((r) => r.cwd === cwd && r.status === "running");
    const b = this.behavior;
    const run: ApplyRun = {
      id: `apply-${++this.seq}`,
      argv,
      cwd,
      pid,
      tty,
      args: parsed,
      hosts: hosts.map((h) => h.def.name),
      startedAt: now,
      mode: b.mode,
      overlapped,
      status: b.mode === "hang" ? "hung" : "running",
    };
    this.runs.push(run);
    if (this.runs.length > 1000) this.runs.splice(0, this.runs.length - 1000);
    if (b.times !== undefined && --b.times <= 0) this.behavior = { ...b, mode: "ok", times: undefined };

    let stderr = parsed.verbose ? "setting up verbose logging\n" : "";
    stderr += tracingLine(now, "INFO", [COMPOSITE], "new");
    for (const h of hosts) {
      const path = h.def.target;
      stderr += tracingLine(now, "INFO", [COMPOSITE, applyingResource(path)], "new");
      if (needsChange(this.fleet, h) || b.newGeneration || b.mode !== "ok")
        stderr += tracingLine(
          now,
          "INFO",
          [COMPOSITE, applyingResource(path), creatingResource(path)],
          "new",
        );
      else
        stderr += tracingLine(
          now,
          "INFO",
          [COMPOSITE, applyingResource(path)],
          `Skipping update for resource ${path}: inputs unchanged`,
        );
    }
    if (b.mode === "hang") return { kind: "hang", stderr };
    return { kind: "wait", stderr, delayMs: b.delayMs, finishId: run.id };
  }

  finish(id: string): Step {
    const run = this.runs.find((r) => r.id === id);
    if (run?.status !== "running")
      return { kind: "exit", stderr: "nixops4 error: internal: unknown apply\n", code: 1 };
    const now = this.fleet.now();
    const idle = now - run.startedAt;
    run.finishedAt = now;
    if (run.mode === "panic") {
      run.status = "panicked";
      run.exitCode = 101;
      return { kind: "exit", stderr: rustPanic("Unexpected outcome from ApplyResource: Done"), code: 101 };
    }
    let stderr = "";
    let failed: string | undefined;
    let resourceExit = 1;
    for (const name of run.hosts) {
      const h = this.fleet.host(name) as SimHost;
      const path = h.def.target;
      const spans = [COMPOSITE, applyingResource(path)];
      const unreachable = this.fleet.unreachable(h);
      if (run.mode === "fail" || unreachable) {
        // nixops4-nixos' own ssh fails; its stderr passes through before the error chain.
        stderr += unreachable
          ? `ssh: connect to host ${h.def.address} port 22: Connection timed out\r\n`
          : `error: builder for '/nix/store/${"0".repeat(32)}-nixos-system-${h.def.name}.drv' failed with exit code 1\n`;
        failed ??= path;
        continue;
      }
      const changed = needsChange(this.fleet, h) || this.behavior.newGeneration;
      const unitsFailed = this.fleet.applyDeploy(h, this.behavior.newGeneration);
      if (unitsFailed.length > 0) {
        // The switch landed, but switch-to-configuration exits 4: the resource fails with it.
        stderr += `warning: the following units failed: ${unitsFailed.join(", ")}\n`;
        if (failed === undefined) resourceExit = 4;
        failed ??= path;
        continue;
      }
      if (changed)
        stderr += tracingLine(now, "INFO", [...spans, creatingResource(path)], closeMessage(12.3, idle));
      stderr += tracingLine(now, "INFO", spans, closeMessage(3.1, idle));
    }
    if (failed) {
      run.status = "failed";
      run.exitCode = 1;
      return {
        kind: "exit",
        stderr:
          stderr +
          nixops4Error([
            `Failed to create stateless resource ${failed}`,
            `Local resource process failed with exit code: ${resourceExit}`,
          ]),
        code: 1,
      };
    }
    stderr += tracingLine(now, "INFO", [COMPOSITE], closeMessage(5.2, idle));
    run.status = "succeeded";
    run.exitCode = 0;
    return { kind: "exit", stderr, code: 0 };
  }
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
