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
  helpText,
  nixops4Error,
  PREVIEWING,
  previewList,
  RESOLVING,
  rustPanic,
  tracingLine,
} from "./render/nixops4-log.js";

/**
 * The fake nixops4's brain. The executable (bin.ts) only relays: `begin` answers with the
 * progress lines to print and how long to wait; after waiting, the executable calls `finish`,
 * which applies the deploy to the fleet and answers with the closing lines and exit code.
 * A fake killed while it waits never calls `finish`, so its deploy never lands — as when a
 * real apply is killed before switching.
 *
 * It speaks both CLI generations (../shared/fediversity.md), chosen by `cli`:
 * - older: `apply [DEPLOYMENT]` (default `default`) and `deployments list`; each layout
 *   deployment is one `nixops4Deployments.<target>`, its machines resources named by host;
 *   tracing goes to **stdout** (nixops4 before 3c20e61).
 * - newer: one root whose members are the deployments (composites) whose members are the
 *   machines (resources); `apply [PATH...]` (none = the root) and `members list [PATH]`; a PATH
 *   naming a machine is refused (`Expected composite at …, but found resource`); tracing goes
 *   to **stderr**.
 * Both: `--help`, clap's usage errors (exit 2), the preview and the created resources on stderr.
 * SIGINT is handled by the relay (bin.ts: `nixops4 error: interrupted`, exit 1), SIGTERM kills.
 */
export type Nixops4Cli = "older" | "newer";

export interface Nixops4Behavior {
  mode: "ok" | "fail" | "panic" | "hang";
  /** How long an apply takes (ms). */
  delayMs: number;
  /** A successful apply moves the hosts to a new generation (a new flake commit). */
  newGeneration: boolean;
  /** After this many applies in `mode`, fall back to "ok" (undefined: stay). */
  times?: number;
  /** Which CLI generation it is. */
  cli: Nixops4Cli;
}

export interface Nixops4Args {
  subcommand?: string;
  targets: string[];
  help: boolean;
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
  /** Each host's resource path as this CLI names it (older: relative to the deployment). */
  paths: string[][];
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
  | { kind: "wait"; stderr: string; stdout?: string; delayMs: number; finishId: string }
  | { kind: "hang"; stderr: string; stdout?: string };

const FLAGS_WITH_VALUE = new Set(["--color", "--override-input"]);

export function parseNixops4Argv(argv: readonly string[]): Nixops4Args | { error: string } {
  const a: Nixops4Args = {
    targets: [],
    help: false,
    verbose: false,
    interactive: false,
    noInteractive: false,
    showTrace: false,
    overrideInputs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") a.help = true;
    else if (arg === "-v" || arg === "--verbose") {
      // A boolean flag: clap refuses it twice (`-vv` included).
      if (a.verbose) return { error: clapError("the argument '--verbose' cannot be used multiple times") };
      a.verbose = true;
    } else if (arg === "-vv")
      return { error: clapError("the argument '--verbose' cannot be used multiple times") };
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
  behavior: Nixops4Behavior = { mode: "ok", delayMs: 2000, newGeneration: false, cli: "newer" };
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
    const cli = this.behavior.cli;
    const parsed = parseNixops4Argv(argv);
    if ("error" in parsed) return { kind: "exit", stderr: parsed.error, code: 2 };
    if (parsed.help || parsed.subcommand === "help")
      return { kind: "exit", stderr: "", stdout: helpText(cli), code: 0 };
    const root = "nixops4 [OPTIONS] <COMMAND>";
    if (parsed.subcommand === undefined)
      return {
        kind: "exit",
        stderr: clapError("'nixops4' requires a subcommand but one was not provided", root),
        code: 2,
      };
    const known = cli === "older" ? ["apply", "deployments"] : ["apply", "members", "state"];
    if (!known.includes(parsed.subcommand))
      return {
        kind: "exit",
        stderr: clapError(`unrecognized subcommand '${parsed.subcommand}'`, root),
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
    if (parsed.subcommand !== "apply") return this.listing(parsed);

    const resolved = cli === "older" ? this.resolveOlder(parsed.targets) : this.resolveNewer(parsed.targets);
    if ("exit" in resolved) return resolved.exit;
    const { hosts, paths } = resolved;
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
      paths,
      startedAt: now,
      mode: b.mode,
      overlapped,
      status: b.mode === "hang" ? "hung" : "running",
    };
    this.runs.push(run);
    if (this.runs.length > 1000) this.runs.splice(0, this.runs.length - 1000);
    if (b.times !== undefined && --b.times <= 0) this.behavior = { ...b, mode: "ok", times: undefined };

    // Tracing on its stream (older: stdout), plain text on stderr; on the newer CLI both go to
    // stderr, in the order printed: resolve and preview spans, the preview list, the resources.
    let pre = tracingLine(now, "INFO", [RESOLVING], "new");
    pre += tracingLine(now, "INFO", [RESOLVING], closeMessage(0.4, 0.1));
    pre += tracingLine(now, "INFO", [COMPOSITE], "new");
    pre += tracingLine(now, "INFO", [COMPOSITE, PREVIEWING], "new");
    pre += tracingLine(now, "INFO", [COMPOSITE, PREVIEWING], closeMessage(0.8, 0.1));
    const verbose = parsed.verbose ? "setting up verbose logging\n" : "";
    const preview = previewList(paths.map((p) => p.join(".")));
    let log = "";
    hosts.forEach((h, i) => {
      const path = paths[i] as string[];
      log += tracingLine(now, "INFO", [COMPOSITE, applyingResource(path)], "new");
      if (needsChange(this.fleet, h) || b.newGeneration || b.mode !== "ok")
        log += tracingLine(now, "INFO", [COMPOSITE, applyingResource(path), creatingResource(path)], "new");
      else
        log += tracingLine(
          now,
          "INFO",
          [COMPOSITE, applyingResource(path)],
          `Skipping update for resource ${path.join(".")}: inputs unchanged`,
        );
    });
    const streams =
      cli === "older"
        ? { stdout: pre + log, stderr: verbose + preview }
        : { stderr: verbose + pre + preview + log };
    if (b.mode === "hang") return { kind: "hang", ...streams };
    return { kind: "wait", ...streams, delayMs: b.delayMs, finishId: run.id };
  }

  /** Older CLI: one deployment by name (default `default`), its machines relative to it. */
  private resolveOlder(targets: string[]): Resolved {
    if (targets.length > 1)
      return {
        exit: {
          kind: "exit",
          stderr: clapError(
            `unexpected argument '${targets[1]}' found`,
            "nixops4 apply [OPTIONS] [DEPLOYMENT]",
          ),
          code: 2,
        },
      };
    const name = targets[0] ?? "default";
    const dep = this.fleet.layout.deployments.find((d) => d.target === name);
    // The deployment is looked up as nixops4Deployments.<name>: a dot path is a name like any other.
    if (!dep)
      return { exit: { kind: "exit", stderr: nixops4Error([`attribute '${name}' missing`]), code: 1 } };
    const hosts = dep.hosts.map((h) => this.fleet.host(h.name) as SimHost);
    return { hosts, paths: hosts.map((h) => [h.def.name]) };
  }

  /** Newer CLI: composite paths under the root (none = the root); a machine is a resource. */
  private resolveNewer(targets: string[]): Resolved {
    const deps = this.fleet.layout.deployments;
    const chosen = targets.length > 0 ? targets : deps.map((d) => d.target);
    const hosts: SimHost[] = [];
    const paths: string[][] = [];
    for (const t of chosen) {
      const dep = deps.find((d) => d.target === t);
      if (!dep) {
        const resource = deps.some((d) => d.hosts.some((h) => `${d.target}.${h.name}` === t));
        return {
          exit: {
            kind: "exit",
            stderr: resource
              ? nixops4Error([`Expected composite at ${t}, but found resource`])
              : nixops4Error([
                  `Failed to resolve component path '${t}'`,
                  `member '${t.split(".").pop()}' not found`,
                ]),
            code: 1,
          },
        };
      }
      for (const h of dep.hosts) {
        const host = this.fleet.host(h.name) as SimHost;
        if (hosts.includes(host)) continue;
        hosts.push(host);
        paths.push([dep.target, h.name]);
      }
    }
    return { hosts, paths };
  }

  /** `deployments list` (older) and `members list [PATH]` (newer): read-only, on stdout. */
  private listing(parsed: Nixops4Args): Step {
    const sub = parsed.subcommand as string;
    const [verb, path = "", extra] = parsed.targets;
    if (verb !== "list")
      return {
        kind: "exit",
        stderr: clapError(
          verb === undefined
            ? `'nixops4 ${sub}' requires a subcommand but one was not provided`
            : `unrecognized subcommand '${verb}'`,
          `nixops4 ${sub} <COMMAND>`,
        ),
        code: 2,
      };
    if (extra !== undefined || (sub === "deployments" && parsed.targets.length > 1))
      return {
        kind: "exit",
        stderr: clapError(`unexpected argument '${extra ?? path}' found`, `nixops4 ${sub} list [OPTIONS]`),
        code: 2,
      };
    const deps = this.fleet.layout.deployments;
    const lines = (names: string[]) => ({
      kind: "exit" as const,
      stderr: "",
      stdout: names.map((n) => `${n}\n`).join(""),
      code: 0,
    });
    if (sub === "deployments" || path === "") return lines(deps.map((d) => d.target));
    const dep = deps.find((d) => d.target === path);
    if (dep) return lines(dep.hosts.map((h) => h.name));
    const resource = deps.some((d) => d.hosts.some((h) => `${d.target}.${h.name}` === path));
    return {
      kind: "exit",
      stderr: nixops4Error([
        `Failed to resolve path '${path}' for members list`,
        resource
          ? `Expected composite at ${path}, but found resource`
          : `attribute '${path.split(".").pop()}' missing`,
      ]),
      code: 1,
    };
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
    const older = this.behavior.cli === "older";
    let log = "";
    let stderr = "";
    let failed: string | undefined;
    run.hosts.forEach((name, i) => {
      const h = this.fleet.host(name) as SimHost;
      const path = run.paths[i] as string[];
      const spans = [COMPOSITE, applyingResource(path)];
      const unreachable = this.fleet.unreachable(h);
      if (run.mode === "fail" || unreachable) {
        // nixops4-nixos' own ssh fails; its stderr passes through before the error chain.
        stderr += unreachable
          ? `ssh: connect to host ${h.def.address} port 22: Connection timed out\r\n`
          : `error: builder for '/nix/store/${"0".repeat(32)}-nixos-system-${h.def.name}.drv' failed with exit code 1\n`;
        failed ??= path.join(".");
        return;
      }
      const changed = needsChange(this.fleet, h) || this.behavior.newGeneration;
      this.fleet.applyDeploy(h, this.behavior.newGeneration);
      if (changed)
        log += tracingLine(now, "INFO", [...spans, creatingResource(path)], closeMessage(12.3, idle));
      log += tracingLine(now, "INFO", spans, closeMessage(3.1, idle));
    });
    const out = (errText: string, code: number): Step =>
      older
        ? { kind: "exit", stdout: log, stderr: errText, code }
        : { kind: "exit", stderr: log + errText, code };
    if (failed) {
      run.status = "failed";
      run.exitCode = 1;
      return out(
        stderr +
          nixops4Error([
            `Failed to create stateless resource ${failed}`,
            "Local resource process failed with exit code: 1",
          ]),
        1,
      );
    }
    // On success nixops4 prints every resource's inputs (and outputs): long, and they may hold
    // values an operator would not want copied everywhere (NixGuard keeps them out of read logs).
    stderr += "The following resources were created:\n";
    run.hosts.forEach((name, i) => {
      const h = this.fleet.host(name) as SimHost;
      stderr += createdResource((run.paths[i] as string[]).join("."), h.def.address);
    });
    run.status = "succeeded";
    run.exitCode = 0;
    const close = tracingLine(now, "INFO", [COMPOSITE], closeMessage(5.2, idle));
    // The composite's close comes after the created list (same stream on the newer CLI).
    return older
      ? { kind: "exit", stdout: log + close, stderr, code: 0 }
      : { kind: "exit", stderr: log + stderr + close, code: 0 };
  }
}

type Resolved = { hosts: SimHost[]; paths: string[][] } | { exit: Step };

/** A created resource as nixops4 lists it: nixops4-nixos' local exec inputs. */
function createdResource(path: string, address: string): string {
  return [
    `  - resource ${path}`,
    `    - input executable: "/nix/store/${"0".repeat(31)}a-bash-5.2p37/bin/bash"`,
    "    - input args: [",
    '                "-c",',
    '                "set -euo pipefail\\nexport NIX_SSHOPTS=\\"-o ConnectTimeout=10 -o ConnectionAttempts=12 -o StrictHostKeyChecking=yes\\"\\n",',
    `                "root@${address}"`,
    "            ]",
    "",
  ].join("\n");
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
