import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { waitFor } from "../../helpers/fake-nixops4.js";
import { describeRealhost, FIRST_BOOT_TIMEOUT_MS } from "../../helpers/realhost/index.js";
import { linkNames, netnsNames } from "../../helpers/realhost/network.js";
import { nspawnProcesses } from "../../helpers/realhost/processes.js";
import { sweep } from "../../helpers/realhost/slots.js";

const BOOT_CHILD = fileURLToPath(new URL("../../helpers/realhost/boot-child.ts", import.meta.url));

interface Made {
  netns: string;
  link: string;
  dir: string;
  machine: string;
  nspawn: number;
  init: number;
}

/** A process that booted a host; resolves once the host is up. */
async function bootInChild(): Promise<{ child: ChildProcess; made: Made }> {
  // One process (node loading tsx), not the tsx wrapper: the signals must reach the bed's owner.
  const child = spawn(process.execPath, ["--import", "tsx", BOOT_CHILD], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const made = await new Promise<Made>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0] as string) as Made);
    });
    child.once("exit", (code, signal) => reject(new Error(`boot child exited ${code ?? signal}: ${stderr}`)));
  });
  return { child, made };
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()));

/** Running, not a zombie: a SIGKILLed process lingers in /proc until its parent reaps it. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

const left = (made: Made) => ({
  netns: netnsNames().includes(made.netns),
  link: linkNames().includes(made.link),
  container: nspawnProcesses().some((p) => p.machine === made.machine),
  nspawn: alive(made.nspawn),
  init: alive(made.init),
  dir: existsSync(made.dir),
});
const NOTHING = { netns: false, link: false, container: false, nspawn: false, init: false, dir: false };

/** SIGKILL is asynchronous: wait (bounded) for the kernel to finish the processes, then compare. */
async function expectGone(made: Made): Promise<void> {
  await waitFor(() => Object.values(left(made)).every((v) => !v), 15_000);
  expect(left(made)).toEqual(NOTHING);
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill("SIGKILL");
    await exited(c);
  }
  await sweep();
});

describeRealhost("real-host bed cleanup when its process dies", () => {
  it(
    "a process ended by SIGTERM takes its host with it (exit handler)",
    async () => {
      const { child, made } = await bootInChild();
      expect(netnsNames()).toContain(made.netns);
      expect(alive(made.init)).toBe(true);
      child.kill("SIGTERM");
      await exited(child);
      expect(child.signalCode).toBe("SIGTERM");
      await expectGone(made);
    },
    FIRST_BOOT_TIMEOUT_MS,
  );

  it(
    "a process killed with SIGKILL leaves its host to the next sweep, which removes it all",
    async () => {
      const { child, made } = await bootInChild();
      child.kill("SIGKILL");
      await exited(child);
      // Nothing could clean up: the container still runs.
      expect(netnsNames()).toContain(made.netns);
      expect(alive(made.nspawn)).toBe(true);
      await sweep();
      await expectGone(made);
    },
    FIRST_BOOT_TIMEOUT_MS,
  );
});
