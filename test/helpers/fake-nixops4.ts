import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the fake nixops4 executable (test/fixtures/nixops4/nixops4). */
export const FAKE_NIXOPS4 = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/nixops4/nixops4");

export type FakeMode = "success" | "fail" | "panic" | "hang" | "hang-ignore-int" | "hang-ignore-term";

export interface FakeControl {
  mode?: FakeMode;
  durationMs?: number;
  /** Number of resources (`TARGET.r<i>`) whose span opens and closes on stderr. */
  progress?: number;
  /** Bytes of filler to print on stdout. */
  spamBytes?: number;
  /** Start a `sleep` grandchild (hang modes always do). */
  grandchild?: boolean;
  /** Leave a `sleep` holding stdout/stderr behind after exiting (a straggler). */
  straggler?: boolean;
  /** Flags this nixops4 does not know: a usage error (exit 2) as clap prints it. */
  rejectFlags?: string[];
  /** Replay nixops4's recorded output of a successful apply, as that CLI generation prints it. */
  cli?: "older" | "newer";
  /** Older CLI: what `deployments list` prints. */
  deployments?: string[];
  /** Newer CLI: members of each composite path ("" = the root), for `members list`. */
  composites?: Record<string, string[]>;
  /** Newer CLI: paths that are resources (`members list` refuses them). */
  resources?: string[];
}

export interface FakeCall {
  event: "start" | "end" | "grandchild" | "sigint-ignored" | "sigterm-ignored" | "straggler";
  t: number;
  pid: number;
  argv?: string[];
  cwd?: string;
  env?: Record<string, string>;
  stdinIsTTY?: boolean;
  exit?: number;
  signal?: string;
}

/** A temporary flake directory with the fake's control/record directory inside it. */
export interface FakeFlake {
  dir: string;
  control(c: FakeControl): void;
  calls(): FakeCall[];
  /** PIDs of live processes whose working directory is inside this flake dir (the marker). */
  liveProcesses(): number[];
  /** SIGKILL anything still running in the flake dir, then remove it. */
  cleanup(): void;
}

export function makeFakeFlake(name = "flake"): FakeFlake {
  const dir = mkdtempSync(join(tmpdir(), `nixguard-${name}-`));
  const ctl = join(dir, ".fake-nixops4");
  mkdirSync(ctl, { recursive: true });
  const liveProcesses = () => processesInDir(dir);
  return {
    dir,
    control: (c) => writeFileSync(join(ctl, "control.json"), JSON.stringify(c)),
    calls: () => {
      try {
        return readFileSync(join(ctl, "calls.jsonl"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as FakeCall);
      } catch {
        return [];
      }
    },
    liveProcesses,
    cleanup: () => {
      for (const pid of liveProcesses()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Scans /proc for processes (not zombies) whose cwd is `dir` or below it. */
export function processesInDir(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z") found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Polls until `pred` holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
