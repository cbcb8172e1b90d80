/**
 * SSH transport: all-in CPU per host probe (10 units, current system, disks, load, CPUs in one
 * call) against loopback sshd's (test/helpers/sshd.ts), for both ways the transport talks to a
 * host, interleaved in one run because the machine is shared and noisy:
 *   per-probe   one ssh client per probe, multiplexed over a ControlPersist master
 *   persistent  one long-lived `ssh HOST sh` session fed framed requests (ssh-session.ts)
 * and two remote sides:
 *   shell fakes   test/fixtures/systemctl/bin: shell scripts (a `cat` per unit): costly
 *   static fakes  bench/_lib/static-fake.c: one exec printing a prepared file, the same bytes
 * CPU is counted for every process involved, and split by where it goes:
 *   NixGuard      this process (the transport; the probe output's parsing)
 *   ssh client    per-probe: the reaped clients (/proc/self/stat cutime); persistent: the session
 *   ControlMaster per-probe only (a daemon, its own /proc entry)
 *   sshd          the listener and each connection's sshd process (their own utime+stime)
 *   remote shell  persistent: the session's `sh` (reading and framing requests, forking the
 *                 commands); per-probe: the `bash -c LINE` sshd starts per request (root's
 *                 shell), i.e. what sshd reaped less the remote work
 *   remote work   the line's commands' own processes (systemctl, readlink, df, cat, nproc): a
 *                 host's cost whatever the transport. Persistent: exactly what the session
 *                 shell reaped. Per-probe: the same line through a local `sh` session
 *                 (SshSession over /bin/sh, no ssh), measured right before and after the row
 * transport = NixGuard + ssh client + ControlMaster + sshd + remote shell: the figure issue 22's
 * ≤ 2 ms target is about (today's 9 ms counted NixGuard, client, master).
 * CPU time, not wall: other processes on the machine inflate wall time and, less, CPU time; the
 * same-run reference (/bin/true through the spawn gateway, src/probes/transports/run.ts; ~1.1 ms
 * on an idle machine) says how much.
 * Run: npx tsx bench/ssh-transport.ts [--probes 200] [--rounds 2]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildProbeCommand } from "../src/probes/systemd/command.js";
import { runCommand } from "../src/probes/transports/run.js";
import { SshTransport } from "../src/probes/transports/ssh.js";
import { SshSession } from "../src/probes/transports/ssh-session.js";
import { FAKE_BIN, startSshd, type TestSshd, unitBlock } from "../test/helpers/sshd.js";
import { CLK_TCK } from "./_lib/proc.js";
import { readTicks, remoteDelta, remoteSnapshot } from "./_lib/proc-tree.js";
import { flags, log, machine } from "./_lib/report.js";
import { buildStaticFakes, writeStaticOutputs } from "./_lib/static-fakes.js";

const f = flags({ probes: "200", rounds: "2" });
const PROBES = Number(f.probes);
const ROUNDS = Number(f.rounds);
const STORE = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-bench-25.11";

type Mode = "per-probe" | "persistent";
type Fakes = "shell" | "static";

const self = () => readTicks("self") ?? { self: 0, reaped: 0 };
const ticksOf = (pids: number[]) => pids.reduce((s, p) => s + (readTicks(p)?.self ?? 0), 0);
const ms = (t: number, n = PROBES) => Number(((t / CLK_TCK / n) * 1000).toFixed(2));
const signal = () => AbortSignal.timeout(30_000);

const workDir = mkdtempSync("/tmp/ngbench-");
const staticBin = join(workDir, "bin");
buildStaticFakes(staticBin);
const units = Array.from({ length: 10 }, (_, i) => `unit-${i}.service`);
const line = buildProbeCommand(units);

async function startFor(fakes: Fakes): Promise<TestSshd> {
  const sshd = await startSshd(fakes === "static" ? { fakeBin: staticBin } : {});
  for (const u of units) sshd.setUnit(u, unitBlock(u));
  writeFileSync(join(sshd.fixtureDir, "current-system"), `${STORE}\n`);
  writeStaticOutputs(sshd.fixtureDir, units);
  return sshd;
}
const sshds: Record<Fakes, TestSshd> = { shell: await startFor("shell"), static: await startFor("static") };

function masterPid(t: SshTransport, address: string): number {
  // `ssh -O check` prints "Master running (pid=N)" on stderr.
  const r = spawnSync("ssh", [...t.argv("x").slice(0, -3), "-O", "check", "--", address], {
    encoding: "utf8",
  });
  const pid = Number(/pid=(\d+)/.exec(r.stderr)?.[1]);
  if (!pid) throw new Error(`no ControlMaster: ${r.stderr}`);
  return pid;
}

/** The line's commands alone (ticks per probe): what a local `sh` session reaps running it. */
async function remoteWork(fakes: Fakes, n: number): Promise<number> {
  const env = [
    `PATH=${fakes === "static" ? staticBin : FAKE_BIN}:/usr/bin:/bin`,
    `NIXGUARD_FIXTURE=${sshds[fakes].fixtureDir}`,
  ];
  // The session's argv ends `-- local sh`: `sh -c 'exec sh'` ignores it and reads stdin.
  const local = new SshSession("env", [...env, "sh", "-c", "exec sh", "relay"], "local", 4 * 1024 * 1024);
  try {
    await local.run(line, signal(), false);
    const pid = local.pid as number;
    const r0 = readTicks(pid)?.reaped ?? 0;
    for (let i = 0; i < n; i++) await local.run(line, signal(), false);
    return ((readTicks(pid)?.reaped ?? r0) - r0) / n;
  } finally {
    await local.close();
  }
}

async function measure(mode: Mode, fakes: Fakes) {
  const sshd = sshds[fakes];
  const spec = sshd.spec({ session: mode });
  const t = new SshTransport(spec, { runtimeDir: join(workDir, "run") });
  try {
    const first0 = self();
    const firstWall0 = performance.now();
    await t.fetch(units, signal());
    const firstWallMs = performance.now() - firstWall0;
    const first1 = self();
    const firstLocalMs = ((first1.self + first1.reaped - first0.self - first0.reaped) / CLK_TCK) * 1000;
    // Per-probe: the ControlMaster daemon. Persistent: the session's ssh client (a live child).
    const helper = mode === "per-probe" ? [masterPid(t, spec.address)] : t.sessionPids();
    const connections0 = sshd.acceptedConnections();
    for (let i = 0; i < 20; i++) await t.fetch(units, signal()); // warm-up
    const workBefore = mode === "per-probe" ? await remoteWork(fakes, Math.ceil(PROBES / 2)) : 0;
    const s0 = self();
    const helper0 = ticksOf(helper);
    const remote0 = remoteSnapshot(sshd.pid);
    const wall0 = performance.now();
    for (let i = 0; i < PROBES; i++) await t.fetch(units, signal());
    const wallMs = (performance.now() - wall0) / PROBES;
    const remote = remoteDelta(remote0, remoteSnapshot(sshd.pid));
    const s1 = self();
    const helperMs = ms(ticksOf(helper) - helper0);
    const reapedHere = ms(s1.reaped - s0.reaped);
    const workAfter = mode === "per-probe" ? await remoteWork(fakes, Math.ceil(PROBES / 2)) : 0;
    const reaped = ms(remote.reaped);
    const work = mode === "per-probe" ? ms((workBefore + workAfter) / 2, 1) : reaped;
    return {
      mode,
      fakes,
      firstProbeWallMs: Number(firstWallMs.toFixed(1)),
      firstProbeLocalCpuMs: Number(firstLocalMs.toFixed(1)),
      nixguardMs: ms(s1.self - s0.self),
      sshClientMs: mode === "per-probe" ? reapedHere : helperMs,
      controlMasterMs: mode === "per-probe" ? helperMs : 0,
      sshdMs: ms(remote.sshd),
      remoteShellMs: mode === "per-probe" ? Number((reaped - work).toFixed(2)) : ms(remote.shells),
      remoteWorkMs: work,
      wallMs: Number(wallMs.toFixed(2)),
      newConnections: sshd.acceptedConnections() - connections0,
    };
  } finally {
    await t.close();
  }
}

async function gatewayTrue(): Promise<number> {
  for (let i = 0; i < 20; i++) await runCommand("/bin/true", [], { signal: signal() });
  const s0 = self().self;
  for (let i = 0; i < PROBES; i++) await runCommand("/bin/true", [], { signal: signal() });
  return ms(self().self - s0);
}

const load = () =>
  execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ");

try {
  const loadBefore = load();
  log(`load ${loadBefore}; ${PROBES} probes × ${ROUNDS} rounds × 2 modes × 2 fakes`);
  type Row = Awaited<ReturnType<typeof measure>>;
  const rows: Row[] = [];
  const trueMs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    trueMs.push(await gatewayTrue());
    // Interleaved: a noisy neighbour hits every cell, not one.
    for (const fakes of ["static", "shell"] as const) {
      for (const mode of ["per-probe", "persistent"] as const) {
        rows.push(await measure(mode, fakes));
        log(`round ${round + 1}: ${mode} ${fakes} done`);
      }
    }
  }
  trueMs.push(await gatewayTrue());
  const loadAfter = load();

  const transport = (r: Row) => r.nixguardMs + r.sshClientMs + r.controlMasterMs + r.sshdMs + r.remoteShellMs;
  const allIn = (r: Row) => transport(r) + r.remoteWorkMs;
  const f2 = (n: number) => n.toFixed(2);
  console.log(
    "| session | remote fakes | NixGuard | ssh client | ControlMaster | sshd | remote shell | **transport** | remote work (the line's commands) | all-in | wall | first probe wall / local CPU | new TCP conns |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.fakes} | ${r.nixguardMs} | ${r.sshClientMs} | ${r.controlMasterMs} | ${r.sshdMs} | ${r.remoteShellMs} | **${f2(transport(r))}** | ${r.remoteWorkMs} | ${f2(allIn(r))} | ${r.wallMs} | ${r.firstProbeWallMs} / ${r.firstProbeLocalCpuMs} | ${r.newConnections} |`,
    );
  }
  const best = (mode: Mode, fakes: Fakes) =>
    rows
      .filter((r) => r.mode === mode && r.fakes === fakes)
      .reduce((a, b) => (transport(b) < transport(a) ? b : a));
  const summary = Object.fromEntries(
    (["static", "shell"] as const).map((fakes) => {
      const pp = best("per-probe", fakes);
      const ps = best("persistent", fakes);
      return [
        fakes,
        {
          perProbeTransportMs: Number(f2(transport(pp))),
          persistentTransportMs: Number(f2(transport(ps))),
          transportRatio: Number((transport(pp) / transport(ps)).toFixed(1)),
          perProbeAllInMs: Number(f2(allIn(pp))),
          persistentAllInMs: Number(f2(allIn(ps))),
          allInRatio: Number((allIn(pp) / allIn(ps)).toFixed(1)),
        },
      ];
    }),
  );
  for (const [fakes, s] of Object.entries(summary)) {
    console.log(
      `best of ${ROUNDS}, ${fakes} fakes: transport per-probe ${s.perProbeTransportMs} ms, persistent ${s.persistentTransportMs} ms (×${s.transportRatio}); all-in ${s.perProbeAllInMs} → ${s.persistentAllInMs} ms (×${s.allInRatio})`,
    );
  }
  console.log(`/bin/true through the gateway ${trueMs.join(", ")} ms; load ${loadBefore} → ${loadAfter}`);
  console.log(
    JSON.stringify({
      bench: "ssh-transport",
      probes: PROBES,
      units: units.length,
      rows: rows.map((r) => ({ ...r, allInMs: Number(f2(allIn(r))), transportMs: Number(f2(transport(r))) })),
      summary,
      gatewayTrueCpuMsPerSpawn: trueMs,
      load: [loadBefore, loadAfter],
      target: 2,
      machine: machine(),
    }),
  );
} finally {
  for (const s of Object.values(sshds)) await s.stop();
  rmSync(workDir, { recursive: true, force: true });
}
