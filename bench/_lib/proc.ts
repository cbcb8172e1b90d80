import { readFileSync } from "node:fs";

/**
 * A process's own CPU time and memory from /proc, for benchmarks that must measure NixGuard
 * alone: utime + stime of that PID only (children, e.g. the fake ssh relays, are not counted).
 */
export const CLK_TCK = 100; // USER_HZ on Linux; `getconf CLK_TCK`

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 after the command name.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** Samples RSS every `everyMs`; `peak` is the largest seen. */
export class RssSampler {
  peak = 0;
  last = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 1000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    try {
      this.last = rssBytes(this.pid);
      this.peak = Math.max(this.peak, this.last);
    } catch {
      // exited
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** CPU used by `pid` between two calls, as a fraction of one core over the wall time. */
export class CpuMeter {
  private cpu0: number;
  private wall0: number;

  constructor(private readonly pid: number) {
    this.cpu0 = cpuSeconds(pid);
    this.wall0 = performance.now();
  }

  read(): { cpuSeconds: number; wallSeconds: number; fractionOfCore: number } {
    const cpu = cpuSeconds(this.pid) - this.cpu0;
    const wall = (performance.now() - this.wall0) / 1000;
    return { cpuSeconds: cpu, wallSeconds: wall, fractionOfCore: cpu / wall };
  }
}
