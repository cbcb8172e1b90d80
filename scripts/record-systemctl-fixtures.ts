/**
 * Records the golden `systemctl show` outputs of real systemd (test/fixtures/golden/systemctl/real/)
 * on a real host booted with the real-host test bed: one unit per situation NixGuard must judge.
 * Needs root (systemd-nspawn, network namespaces). Run: `npx tsx scripts/record-systemctl-fixtures.ts`.
 *
 * Per situation: probe.txt (exactly the probe's command: src/probes/systemd/command.ts),
 * extended.txt (more properties a judge over time may want), full.txt (every property), the unit
 * file and meta.json (commands, what was done to the unit, when). The crash loop and the start limit
 * also get snapshots/ over time with a timeline.json.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SHOW_PROPERTIES } from "../src/probes/systemd/command.js";
import { bootHost, type RealHost } from "../test/helpers/realhost/index.js";
import { UNITS } from "../test/helpers/realhost/units.js";

const OUT = fileURLToPath(new URL("../test/fixtures/golden/systemctl/real", import.meta.url));

export const EXTENDED_PROPERTIES = [
  ...SHOW_PROPERTIES,
  "ActiveEnterTimestampMonotonic",
  "ActiveExitTimestamp",
  "InactiveEnterTimestamp",
  "StateChangeTimestamp",
  "StateChangeTimestampMonotonic",
  "ExecMainCode",
  "ExecMainStatus",
  "ExecMainPID",
  "ExecMainStartTimestamp",
  "ExecMainExitTimestamp",
  "MainPID",
  "Restart",
  "RestartUSec",
  "StartLimitBurst",
  "StartLimitIntervalUSec",
  "ConditionResult",
  "Job",
  "UnitFileState",
] as const;

const probeCommand = (units: string[]) =>
  `systemctl show --timestamp=unix --property=${SHOW_PROPERTIES.join(",")} ${units.join(" ")}`;
const extendedCommand = (unit: string) =>
  `systemctl show --timestamp=unix --property=${[...new Set(EXTENDED_PROPERTIES)].join(",")} ${unit}`;
const fullCommand = (unit: string) => `systemctl show --timestamp=unix ${unit}`;

interface Situation {
  dir: string;
  unit: string;
  file?: { name: string; text: string };
  what: string;
}

/** A situation whose unit file is UNITS[key], installed as `fileName` (default: the unit's name). */
const sit = (
  dir: string,
  unit: string,
  what: string,
  key?: keyof typeof UNITS,
  fileName = unit,
): Situation => ({
  dir,
  unit,
  what,
  ...(key ? { file: { name: fileName, text: UNITS[key] } } : {}),
});

const SITUATIONS: Situation[] = [
  sit("active", "active.service", "started at boot, running", "active"),
  sit("failed", "failed.service", "`systemctl start` once; the process exits 3", "failed"),
  sit("inactive", "active.service", "the active unit after `systemctl stop`"),
  sit("oneshot-success", "oneshot-success.service", "`systemctl start` once", "oneshotSuccess"),
  sit(
    "oneshot-remain",
    "oneshot-remain.service",
    "`systemctl start` once (RemainAfterExit=yes)",
    "oneshotRemain",
  ),
  sit("oneshot-failure", "oneshot-failure.service", "`systemctl start` once; exits 1", "oneshotFailure"),
  sit("timer", "hourly.timer", "started at boot by timers.target, waiting", "timer"),
  sit("timer-service", "hourly.service", "the timer's service before it ever ran", "timerService"),
  sit("not-found", "missing.service", "no such unit"),
  sit(
    "templated",
    "worker@1.service",
    "instance wanted by multi-user.target, running",
    "template",
    "worker@.service",
  ),
  sit("template", "worker@.service", "the template itself"),
  sit(
    "condition-skip",
    "condition-skip.service",
    "`systemctl start` once; ExecCondition exits 1",
    "conditionSkip",
  ),
  sit(
    "activating",
    "slow-start.service",
    "`systemctl start --no-block`, 2 s later (ExecStartPre sleeps 60 s)",
    "slowStart",
  ),
  sit("crash-loop", "crash-loop.service", "`systemctl start`, then a snapshot every second", "crashLoop"),
  sit("crash-loop-start-limit", "start-limit.service", "`systemctl start`, until failed", "startLimit"),
  sit(
    "start-limit-hit",
    "restart-limit.service",
    "running; `systemctl restart` 6 times in a row (the 6th start exceeds StartLimitBurst=5 in 10 s)",
    "active",
  ),
  sit(
    "hung-stop",
    "hung-stop.service",
    "running since boot; `systemctl restart` issued and still waiting 2 s later",
    "hungStop",
  ),
];

const SPLIT = "::snapshot-split::";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command, keeping stdout in `file` and its exit status and stderr for meta.json. */
async function record(host: RealHost, file: string, command: string) {
  const r = await host.exec(command);
  if (r.exitCode === null || r.exitCode === 255) throw new Error(`${command}: ssh failed: ${r.stderr}`);
  writeFileSync(file, r.stdout);
  return { command, exitCode: r.exitCode, ...(r.stderr ? { stderr: r.stderr } : {}) };
}

async function capture(host: RealHost, s: Situation, extra: Record<string, unknown> = {}): Promise<void> {
  const dir = join(OUT, s.dir);
  mkdirSync(dir, { recursive: true });
  const commands = {
    probe: await record(host, join(dir, "probe.txt"), probeCommand([s.unit])),
    extended: await record(host, join(dir, "extended.txt"), extendedCommand(s.unit)),
    full: await record(host, join(dir, "full.txt"), fullCommand(s.unit)),
  };
  if (s.file) writeFileSync(join(dir, s.file.name), s.file.text);
  const meta = { unit: s.unit, situation: s.what, commands, recordedAt: new Date().toISOString(), ...extra };
  writeFileSync(join(dir, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
  console.log(`recorded ${s.dir}`);
}

const field = (text: string, key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1] ?? "";

/** Snapshots every `everyMs` until `until` holds or `count` are taken; returns the timeline. */
async function snapshots(
  host: RealHost,
  s: Situation,
  everyMs: number,
  count: number,
  until?: (probe: string) => boolean,
) {
  const dir = join(OUT, s.dir, "snapshots");
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const timeline = [];
  for (let i = 0; i < count; i++) {
    const at = Date.now() - started;
    // Both in one ssh round trip, so the two views are of (almost) the same moment.
    const both = await host.run(`${probeCommand([s.unit])}; echo ${SPLIT}; ${extendedCommand(s.unit)}`);
    const [probe = "", extended = ""] = both.split(`${SPLIT}\n`);
    const n = String(i).padStart(2, "0");
    writeFileSync(join(dir, `${n}-probe.txt`), probe);
    writeFileSync(join(dir, `${n}-extended.txt`), extended);
    timeline.push({
      snapshot: n,
      elapsedMs: at,
      ActiveState: field(probe, "ActiveState"),
      SubState: field(probe, "SubState"),
      Result: field(probe, "Result"),
      NRestarts: Number(field(probe, "NRestarts")),
      ExecMainStatus: field(extended, "ExecMainStatus"),
    });
    if (until?.(probe)) break;
    await sleep(Math.max(0, started + (i + 1) * everyMs - Date.now()));
  }
  writeFileSync(join(dir, "timeline.json"), `${JSON.stringify(timeline, null, 2)}\n`);
  return timeline;
}

async function main(): Promise<void> {
  const units: Record<string, string> = {};
  for (const s of SITUATIONS) if (s.file) units[s.file.name] = s.file.text;
  const host = await bootHost({
    name: "golden",
    system: { units, wants: { "multi-user.target": ["worker@1.service"] } },
  });
  try {
    // Everything but the README is rewritten.
    mkdirSync(OUT, { recursive: true });
    for (const entry of readdirSync(OUT)) {
      if (entry !== "README.md") rmSync(join(OUT, entry), { recursive: true, force: true });
    }
    const by = (d: string) => SITUATIONS.find((s) => s.dir === d) as Situation;
    const version = (await host.run("systemctl --version")).split("\n")[0];
    const osRelease = field(await host.run("cat /etc/os-release"), "PRETTY_NAME");
    const kernel = (await host.run("uname -r")).trim();

    for (const d of ["active", "timer", "timer-service", "not-found", "templated", "template"])
      await capture(host, by(d));
    for (const d of ["failed", "oneshot-success", "oneshot-remain", "oneshot-failure", "condition-skip"]) {
      const r = await host.exec(`systemctl start ${by(d).unit}`);
      await capture(host, by(d), { startExitCode: r.exitCode, startStderr: r.stderr.trim() });
    }
    await host.run(`systemctl start --no-block ${by("activating").unit}`);
    await sleep(2000);
    await capture(host, by("activating"));

    // Crash loop: crash after 2 s, restart after 3 s — three cycles, a snapshot a second.
    await host.run(`systemctl start ${by("crash-loop").unit}`);
    const loop = await snapshots(host, by("crash-loop"), 1000, 25);
    await capture(host, by("crash-loop"), { timeline: "snapshots/timeline.json", snapshots: loop.length });

    // Start limit: restarts every 100 ms hit the default limit (5 in 10 s) within a second.
    await host.exec(`systemctl start ${by("crash-loop-start-limit").unit}`);
    const limit = await snapshots(
      host,
      by("crash-loop-start-limit"),
      250,
      40,
      (p) => field(p, "ActiveState") === "failed",
    );
    await capture(host, by("crash-loop-start-limit"), {
      timeline: "snapshots/timeline.json",
      snapshots: limit.length,
    });

    // A healthy unit restarted too often: the start limit refuses the 6th start.
    const restarts = [];
    for (let i = 1; i <= 6; i++) {
      const r = await host.exec(`systemctl restart ${by("start-limit-hit").unit}`);
      restarts.push({ restart: i, exitCode: r.exitCode, stderr: r.stderr.trim() });
    }
    await capture(host, by("start-limit-hit"), { restarts });

    // All of them in one call, as the probe asks a host's units (blocks in the order asked).
    const all = SITUATIONS.filter((s) => !["inactive", "template"].includes(s.dir)).map((s) => s.unit);
    const uniqueAll = [...new Set(all)];
    mkdirSync(join(OUT, "all"), { recursive: true });
    const allMeta = await record(host, join(OUT, "all", "probe.txt"), probeCommand(uniqueAll));
    writeFileSync(
      join(OUT, "all", "meta.json"),
      `${JSON.stringify({ units: uniqueAll, ...allMeta }, null, 2)}\n`,
    );
    // A template name among the units: systemctl refuses it (what happens to the others' blocks).
    const withTemplate = ["active.service", "worker@.service", "failed.service"];
    mkdirSync(join(OUT, "all-with-template"), { recursive: true });
    const tMeta = await record(host, join(OUT, "all-with-template", "probe.txt"), probeCommand(withTemplate));
    writeFileSync(
      join(OUT, "all-with-template", "meta.json"),
      `${JSON.stringify({ units: withTemplate, ...tMeta }, null, 2)}\n`,
    );

    // Hung stop: the restart waits for a stop that never ends.
    const restart = host.exec(`systemctl restart ${by("hung-stop").unit}`, 4000);
    await sleep(2000);
    const jobs = await host.run("systemctl list-jobs --no-pager");
    await capture(host, by("hung-stop"), {
      restart: "systemctl restart hung-stop.service (still running when recorded)",
    });
    writeFileSync(join(OUT, "hung-stop", "list-jobs.txt"), jobs);
    const r = await restart;
    writeFileSync(
      join(OUT, "hung-stop", "restart.json"),
      `${JSON.stringify({ command: "systemctl restart hung-stop.service", returnedWithin4s: r.exitCode !== null, exitCode: r.exitCode }, null, 2)}\n`,
    );

    await host.run(`systemctl stop ${by("inactive").unit}`);
    await capture(host, by("inactive"));

    writeFileSync(
      join(OUT, "recorded-on.json"),
      `${JSON.stringify({ systemd: version, os: osRelease, kernel, container: "systemd-nspawn --boot --volatile=overlay", recordedAt: new Date().toISOString() }, null, 2)}\n`,
    );
  } finally {
    await host.destroy();
  }
}

await main();
