import { readdirSync, readFileSync } from "node:fs";
import { descendants } from "../sshd.js";

/** systemd-nspawn processes on this machine with their machine name (-M NAME / --machine=NAME). */
export function nspawnProcesses(): { pid: number; machine: string }[] {
  const out: { pid: number; machine: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith("systemd-nspawn")) continue;
    const i = argv.indexOf("-M");
    const machine = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith("--machine="))?.slice(10);
    if (machine) out.push({ pid: Number(entry), machine });
  }
  return out;
}

/** SIGKILL a process and everything below it (the container's init first: that ends its pid namespace). */
export function killTree(pid: number): void {
  for (const p of [...descendants(pid), pid]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
