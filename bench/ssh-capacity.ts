/**
 * SSH transport capacity (issue 22): N hosts probed over ssh every interval (30 s) against one
 * real loopback sshd (test/helpers/sshd.ts), N growing in steps until the machine's limits, then
 * the largest N that held. Each host is its own SshTransport with its own runtime directory, so
 * it gets its own connection (a ControlMaster per host in per-probe mode, a session per host in
 * persistent mode) exactly as N distinct hosts would; only the address is the same. The remote
 * commands are the static fakes of bench/ssh-transport.ts (one cheap exec each; the transport's
 * cost is the figure, a host's own systemctl is not) unless `--fakes shell`.
 *
 * Probes are paced as the scheduler does at jitter 0: host i is due at i/N of the interval, at
 * most `--concurrency` (the probes.concurrency default, 64) in flight. A step holds when every
 * host was probed in the measured cycle, none failed, and every probe finished within the
 * interval of its due time. The first measured cycle follows a warm-up cycle (sessions open).
 *
 * Per probe, CPU time by process (/proc utime+stime, so load inflates it less than wall):
 * NixGuard (this process: transports and pacing), ssh clients (the sessions, or the reaped
 * per-probe clients plus the ControlMasters), sshd (the listener and each connection's sshd
 * process), remote shells (the session shells / per-request `bash -c`) and the remote commands.
 * Both ends' share includes the keep-alives (ServerAliveInterval, src/probes/transports/ssh.ts).
 * Then an idle pause (`--idle`, no probes): the connections' own cost between probes, per host
 * per interval (keep-alives: ServerAliveInterval, src/probes/transports/ssh.ts).
 * Memory per host: PSS (shared pages split among sharers) and RSS of each process kind.
 * Per-probe mode runs at the first step only (its per-probe spawns cost too much beyond): the
 * same-run reference for the ratio.
 *
 * Stops growing when MemAvailable would fall below `--reserve-gib` (the machine is shared) or a
 * step does not hold. Run:
 *   npx tsx bench/ssh-capacity.ts [--steps 250,500,1000,2000,3000,4000,5000] [--interval 30s]
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDuration } from "../src/config/duration.js";
import { SshTransport } from "../src/probes/transports/ssh.js";
import { startSshd, unitBlock } from "../test/helpers/sshd.js";
import { percentile, round } from "./_lib/metrics.js";
import { CLK_TCK, rssBytes } from "./_lib/proc.js";
import { memAvailable, memoryKiB, readTicks, remoteDelta, remoteSnapshot, tree } from "./_lib/proc-tree.js";
import { flags, log, machine } from "./_lib/report.js";
import { buildStaticFakes, writeStaticOutputs } from "./_lib/static-fakes.js";

const f = flags({
  steps: "250,500,1000,2000,3000,4000,5000",
  interval: "30s",
  concurrency: "64",
  "connect-concurrency": "16",
  "reserve-gib": "8",
  fakes: "static",
  "per-probe-hosts": "",
  idle: "10s",
});
const STEPS = f.steps.split(",").map(Number);
const INTERVAL_MS = parseDuration(f.interval) ?? Number.NaN;
const CONCURRENCY = Number(f.concurrency);
const RESERVE = Number(f["reserve-gib"]) * 2 ** 30;
const IDLE_MS = parseDuration(f.idle) ?? Number.NaN;
const PER_PROBE_HOSTS = Number(f["per-probe-hosts"] || STEPS[0]);
if (!(STEPS.every((n) => n >= 1) && INTERVAL_MS > 0 && CONCURRENCY >= 1)) {
  console.error("bad flags");
  process.exit(64);
}
const STORE = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-bench-25.11";
const units = Array.from({ length: 10 }, (_, i) => `unit-${i}.service`);
const workDir = mkdtempSync("/tmp/ngcap-");
const staticBin = join(workDir, "bin");
if (f.fakes === "static") buildStaticFakes(staticBin);
const sshd = await startSshd({ ...(f.fakes === "static" ? { fakeBin: staticBin } : {}), maxStartups: 200 });
for (const u of units) sshd.setUnit(u, unitBlock(u));
writeFileSync(join(sshd.fixtureDir, "current-system"), `${STORE}\n`);
writeStaticOutputs(sshd.fixtureDir, units);
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Mode = "per-probe" | "persistent";

function makeHosts(mode: Mode, from: number, to: number): SshTransport[] {
  const out: SshTransport[] = [];
  for (let i = from; i < to; i++) {
    const runtimeDir = join(workDir, mode === "persistent" ? "s" : "p", String(i));
    mkdirSync(runtimeDir, { recursive: true });
    out.push(new SshTransport(sshd.spec({ session: mode, controlPersistMs: 600_000 }), { runtimeDir }));
  }
  return out;
}

/** First probe of each host, `connect-concurrency` at a time (the handshakes are the costly part). */
async function connect(hosts: SshTransport[]): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const h = hosts[next++] as SshTransport;
      try {
        await h.fetch(units, AbortSignal.timeout(120_000));
      } catch (e) {
        failed++;
        if (failed <= 3) log(`connect failed: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(f["connect-concurrency"]) }, worker));
  return failed;
}

/** One cycle: host i due at i/N of the interval, at most CONCURRENCY in flight. */
async function cycle(hosts: SshTransport[]) {
  const n = hosts.length;
  const t0 = performance.now();
  const lateness: number[] = [];
  let failed = 0;
  let inFlight = 0;
  let next = 0;
  let firstError = "";
  await new Promise<void>((resolve) => {
    // One timer, set for the next host's due time (a fixed-rate poll would wake this process
    // hundreds of times per probe at small N and count that as NixGuard's).
    let timer: NodeJS.Timeout | undefined;
    const launch = () => {
      clearTimeout(timer);
      timer = undefined;
      const now = performance.now() - t0;
      while (next < n && inFlight < CONCURRENCY && (next * INTERVAL_MS) / n <= now) {
        const i = next++;
        const due = (i * INTERVAL_MS) / n;
        inFlight++;
        (hosts[i] as SshTransport)
          .fetch(units, AbortSignal.timeout(INTERVAL_MS))
          .catch((e: Error) => {
            failed++;
            firstError ||= e.message;
          })
          .finally(() => {
            inFlight--;
            lateness.push(performance.now() - t0 - due);
            if (next < n) launch();
            else if (inFlight === 0) resolve();
          });
      }
      if (next < n && inFlight < CONCURRENCY) {
        timer = setTimeout(launch, Math.max(0, (next * INTERVAL_MS) / n - (performance.now() - t0)));
      }
    };
    launch();
  });
  // The next cycle starts one interval after this one.
  const left = INTERVAL_MS - (performance.now() - t0);
  if (left > 0) await sleep(left);
  lateness.sort((a, b) => a - b);
  return { failed, firstError, lateness };
}

/**
 * The long-lived ssh processes of `mode`: persistent, the sessions (our children); per-probe, the
 * ControlMasters (daemonized away from us, found by their ControlPath under workDir).
 */
function sshPids(mode: Mode): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, "utf8") !== "ssh\n") continue;
      const child = readTicks(Number(name))?.ppid === process.pid;
      const ours = readFileSync(`/proc/${name}/cmdline`, "utf8").includes(`${workDir}/`);
      if (mode === "persistent" ? child : ours && !child) out.push(Number(name));
    } catch {
      // exited
    }
  }
  return out;
}

function memory(pids: number[]) {
  return pids.reduce(
    (s, p) => {
      const m = memoryKiB(p);
      return { pss: s.pss + m.pss, rss: s.rss + m.rss, n: s.n + 1 };
    },
    { pss: 0, rss: 0, n: 0 },
  );
}

async function step(mode: Mode, hosts: SshTransport[]) {
  const n = hosts.length;
  log(`${mode} ${n} hosts: warm-up cycle (load ${load()})`);
  await cycle(hosts);
  const ssh0 = sshPids(mode);
  const sshT0 = ssh0.reduce((s, p) => s + (readTicks(p)?.self ?? 0), 0);
  const remote0 = remoteSnapshot(sshd.pid);
  const self0 = readTicks("self") as NonNullable<ReturnType<typeof readTicks>>;
  const load0 = load();
  const c = await cycle(hosts);
  const self1 = readTicks("self") as NonNullable<ReturnType<typeof readTicks>>;
  const remote1 = remoteSnapshot(sshd.pid);
  const sshT1 = ssh0.reduce((s, p) => s + (readTicks(p)?.self ?? 0), 0);
  const remote = remoteDelta(remote0, remote1);
  const perProbe = (ticks: number) => round((ticks / CLK_TCK / n) * 1000);
  // Which sshd-side processes are shells and which sshd, for memory: from the same tree walk.
  const sshdTree = tree(sshd.pid);
  const isSshd = (comm: string) => comm === "sshd" || comm.startsWith("sshd-");
  const mem = {
    ssh: memory(sshPids(mode)),
    sshd: memory(sshdTree.filter((t) => isSshd(t.comm) && t.pid !== sshd.pid).map((t) => t.pid)),
    shells: memory(sshdTree.filter((t) => !isSshd(t.comm)).map((t) => t.pid)),
  };
  const cpu = {
    nixguard: perProbe(self1.self - self0.self),
    sshClient: perProbe(sshT1 - sshT0 + (mode === "per-probe" ? self1.reaped - self0.reaped : 0)),
    sshd: perProbe(remote.sshd),
    sessionShells: perProbe(remote.shells),
    reapedRemote: perProbe(remote.reaped),
  };
  const transport = round(cpu.nixguard + cpu.sshClient + cpu.sshd + cpu.sessionShells);
  const allIn = round(transport + cpu.reapedRemote);
  const maxLate = c.lateness.at(-1) ?? 0;
  const held = c.failed === 0 && c.lateness.length === n && maxLate < INTERVAL_MS;
  // Idle: no probe for a while, so what the connections cost between probes (keep-alives) shows
  // on its own, per host per interval.
  const idle0 = sshPids(mode).reduce((s, p) => s + (readTicks(p)?.self ?? 0), 0);
  const idleRemote0 = remoteSnapshot(sshd.pid);
  await sleep(IDLE_MS);
  const idle1 = sshPids(mode).reduce((s, p) => s + (readTicks(p)?.self ?? 0), 0);
  const idleRemote = remoteDelta(idleRemote0, remoteSnapshot(sshd.pid));
  const perHostInterval = (ticks: number) => round(((ticks / CLK_TCK / n) * 1000 * INTERVAL_MS) / IDLE_MS);
  const idle = { sshClient: perHostInterval(idle1 - idle0), sshd: perHostInterval(idleRemote.sshd) };
  const kib = (k: number) => round(k / 1024 / n, 2);
  const r = {
    mode,
    hosts: n,
    held,
    failed: c.failed,
    firstError: c.firstError,
    doneLateP50Ms: round(percentile(c.lateness, 0.5)),
    doneLateP99Ms: round(percentile(c.lateness, 0.99)),
    doneLateMaxMs: round(maxLate),
    cpuMsPerProbe: { ...cpu, transport, allIn },
    coresAtInterval: round((allIn * n) / INTERVAL_MS, 3),
    idleMsPerHostInterval: idle,
    memMiBPerHost: {
      sshPss: kib(mem.ssh.pss),
      sshdPss: kib(mem.sshd.pss),
      shellPss: kib(mem.shells.pss),
      pss: kib(mem.ssh.pss + mem.sshd.pss + mem.shells.pss),
      rss: kib(mem.ssh.rss + mem.sshd.rss + mem.shells.rss),
    },
    processes: { ssh: mem.ssh.n, sshd: mem.sshd.n, remoteShells: mem.shells.n },
    nixguardRssMiB: round(rssBytes(process.pid) / 2 ** 20, 0),
    memAvailableGiB: round(memAvailable() / 2 ** 30, 1),
    load: [load0, load()],
  };
  log(JSON.stringify(r));
  return r;
}

const results: Awaited<ReturnType<typeof step>>[] = [];
let persistent: SshTransport[] = [];
try {
  log(`load ${load()}; MemAvailable ${round(memAvailable() / 2 ** 30, 1)} GiB`);
  // Same-run reference: today's per-probe mode at the first step.
  const pp = makeHosts("per-probe", 0, PER_PROBE_HOSTS);
  const ppFailed = await connect(pp);
  log(`per-probe: ${PER_PROBE_HOSTS} masters up (${ppFailed} failed)`);
  results.push(await step("per-probe", pp));
  await Promise.all(pp.map((h) => h.close()));

  let perHostBytes = 0;
  for (const n of STEPS) {
    const grow = n - persistent.length;
    if (grow <= 0) continue;
    if (perHostBytes > 0 && memAvailable() - grow * perHostBytes < RESERVE) {
      log(
        `stop before ${n}: ${grow} more sessions at ${round(perHostBytes / 2 ** 20)} MiB would leave < ${f["reserve-gib"]} GiB`,
      );
      break;
    }
    const avail0 = memAvailable();
    const fresh = makeHosts("persistent", persistent.length, n);
    const failed = await connect(fresh);
    persistent = persistent.concat(fresh);
    perHostBytes = Math.max(perHostBytes, (avail0 - memAvailable()) / grow);
    log(
      `persistent: ${n} sessions (${failed} failed to open; ~${round(perHostBytes / 2 ** 20)} MiB MemAvailable each)`,
    );
    const r = await step("persistent", persistent);
    results.push(r);
    if (!r.held) break;
  }

  const largest = results.filter((r) => r.mode === "persistent" && r.held).at(-1);
  const ref = results[0];
  console.log(
    "| session | hosts | held | failed | done after due p50 / p99 / max | NixGuard | ssh client(s) | sshd | session shells | reaped by the sshd side (per-request shells, commands) | transport (persistent: no per-request shell) | **all-in CPU per probe** | cores at the interval | idle: ssh client / sshd per host per interval | PSS per host (ssh / sshd / shell) | RSS per host | NixGuard RSS | load |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const c = r.cpuMsPerProbe;
    const m = r.memMiBPerHost;
    console.log(
      `| ${r.mode} | ${r.hosts} | ${r.held ? "yes" : "no"} | ${r.failed} | ${r.doneLateP50Ms} / ${r.doneLateP99Ms} / ${r.doneLateMaxMs} ms | ${c.nixguard} | ${c.sshClient} | ${c.sshd} | ${c.sessionShells} | ${c.reapedRemote} | ${c.transport} | **${c.allIn} ms** | ${r.coresAtInterval} | ${r.idleMsPerHostInterval.sshClient} / ${r.idleMsPerHostInterval.sshd} ms | ${m.pss} MiB (${m.sshPss} / ${m.sshdPss} / ${m.shellPss}) | ${m.rss} MiB | ${r.nixguardRssMiB} MiB | ${r.load.join(" → ")} |`,
    );
  }
  const same = results.find((r) => r.mode === "persistent" && r.hosts === ref?.hosts);
  console.log(
    `largest held: ${largest?.hosts ?? 0} hosts at ${f.interval}; per-probe at ${ref?.hosts}: ${ref?.cpuMsPerProbe.allIn} ms all-in, persistent ${same?.cpuMsPerProbe.allIn ?? "?"} ms (×${same ? round((ref?.cpuMsPerProbe.allIn ?? 0) / same.cpuMsPerProbe.allIn, 1) : "?"})`,
  );
  console.log(
    JSON.stringify({
      bench: "ssh-capacity",
      interval: f.interval,
      fakes: f.fakes,
      results,
      largestHeld: largest?.hosts ?? 0,
      machine: machine(),
    }),
  );
} finally {
  log("closing sessions");
  // In batches: thousands of sessions ending at once is a burst of exits on both sides.
  for (let i = 0; i < persistent.length; i += 100) {
    await Promise.all(persistent.slice(i, i + 100).map((h) => h.close()));
  }
  await sshd.stop();
  // Any ControlMaster left (ControlPersist outlives a crashed run): ours are under workDir.
  for (const p of sshPids("per-probe")) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(workDir, { recursive: true, force: true });
}
