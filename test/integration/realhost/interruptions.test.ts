import { afterAll, beforeAll, expect, it } from "vitest";
import { killAllDaemons } from "../../helpers/fault-daemon.js";
import { poll } from "../../helpers/fault-fleet.js";
import { type RealhostDaemon, startRealhostDaemon } from "../../helpers/realhost/daemon.js";
import {
  describeRealhost,
  FIRST_BOOT_TIMEOUT_MS,
  makeStandinFlake,
  type RealHost,
  realhostBed,
  type StandinFlake,
} from "../../helpers/realhost/index.js";
import { service } from "../../helpers/realhost/units.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

/**
 * A host that reboots, or whose ssh session dies, while NixGuard's action runs on it (issue 16,
 * items 2c and 5): the connection breaks, not the action. A real NixGuard daemon restarts a unit
 * on a host that reboots meanwhile, and redeploys (through the nixops4 stand-in) a host whose
 * switch session is killed while the switch carries on in its transient unit. Either action's
 * outcome is decided by the probes after the host answers again, not by the broken connection
 * (`failed` before: `Job for slow.service canceled.`, and the stand-in's ssh exit 255).
 */

// Its stop takes 5 s: a restart is under way long enough to reboot the host in the middle of it,
// and (finite, unlike a hung stop) it does not hold up the shutdown.
const SLOW_STOP = service("/bin/sleep infinity", "ExecStop=/bin/sleep 5\n");
const TRANSIENT = "nixos-rebuild-switch-to-configuration.service";

const INTERVAL_MS = 2_000;
// Covers a 5 s stop, a shutdown and a boot: the deadline bounds the wait for the host.
const RESTART_TIMEOUT_MS = 90_000;

describeRealhost("actions interrupted by their host on real systemd hosts", () => {
  const bed = realhostBed();
  let reb: RealHost;
  let sw: RealHost;
  let redis: TestRedis;
  let flake: StandinFlake;
  let n: RealhostDaemon;

  beforeAll(async () => {
    [reb, sw, redis] = await Promise.all([
      bed.boot({ name: "reb1", system: { units: { "slow.service": SLOW_STOP } } }),
      bed.boot({ name: "sw1", system: { units: { "app.service": service("/bin/sleep infinity") } } }),
      startRedis(),
    ]);
    flake = makeStandinFlake([
      { host: reb, resource: ["boots", "reb1"] },
      { host: sw, resource: ["switches", "sw1"] },
    ]);
    n = await startRealhostDaemon({
      redisUrl: redis.url,
      prefix: "ngri",
      probes: { interval: `${INTERVAL_MS}ms`, timeout: "5s", jitter: 0, failureThreshold: 2 },
      remediation: {
        // Only the actions the test asks for (with force): nothing of NixGuard's own in between.
        mode: "observe",
        restartTimeout: `${RESTART_TIMEOUT_MS}ms`,
        settle: "1s",
        drift: "alert",
      },
      nixops4Command: flake.command,
      deployments: {
        boots: { flake: flake.dir, target: "boots", hosts: { reb1: { host: reb, units: ["slow.service"] } } },
        switches: {
          flake: flake.dir,
          target: "switches",
          hosts: { sw1: { host: sw, units: ["app.service", "late.service"] } },
        },
      },
    });
  }, FIRST_BOOT_TIMEOUT_MS);

  afterAll(async () => {
    await killAllDaemons();
    await redis?.stop();
    flake?.cleanup();
    n?.cleanup();
  });

  const outcomes = async (deployment: string, action: string) =>
    (await n.events()).filter(
      (e) => e.kind === "outcome" && e.deployment === deployment && e.action === action,
    );
  const jobLog = async (jobId: string) => (await n.api(`/api/v1/jobs/${encodeURIComponent(jobId)}/log`)).text;

  it(
    "a host rebooting in the middle of a restart: unreachable for that moment, the restart judged on the probes after the boot",
    async () => {
      const asked = await n.api("/api/v1/hosts/reb1/units/slow.service/restart", { force: true });
      expect(asked.status, asked.text).toBe(202);
      // The restart is under way (the 5 s stop), then the host reboots.
      const stopping = await poll(
        async () =>
          (await reb.exec("systemctl show -P ActiveState slow.service")).stdout.trim() === "deactivating",
        30_000,
        100,
      );
      expect(stopping).toBe(true);
      const boots = reb.boots;
      await reb.reboot();
      expect(reb.boots).toBe(boots + 1);
      const seen = await poll(
        async () => (await outcomes("boots", "restart")).length > 0,
        RESTART_TIMEOUT_MS + 30_000,
        250,
      );
      expect(seen).toBe(true);
      const [o] = await outcomes("boots", "restart");
      // Decided by the host as it came back: the unit running after the boot.
      expect(o?.outcome, o?.reason).toBe("success");
      expect(o?.reason).toMatch(
        /interrupted: systemd canceled the restart job|interrupted: the connection broke/,
      );
      expect(o?.reason).toContain("then slow.service active (running)");
      expect((await reb.run("systemctl is-active slow.service")).trim()).toBe("active");
    },
    RESTART_TIMEOUT_MS + 90_000,
  );

  it("a switch whose ssh session dies while the transient switch unit carries on: the apply's outcome is the hosts' after it", async () => {
    const before = sw.generations.at(-1);
    const g = sw.addGeneration({
      units: {
        ...before?.units,
        // Changed, its restart takes 3 s: the session is killed while switch-to-configuration waits.
        "app.service": service("/bin/sleep 100000", "ExecStartPre=/bin/sleep 3\n"),
        // Started only after the restart: the switch went on without its session.
        "late.service": service("/bin/sleep infinity"),
      },
    });
    flake.deploy(sw, g);
    const asked = await n.api("/api/v1/deployments/switches/redeploy", { force: true });
    expect(asked.status, asked.text).toBe(202);
    const running = await poll(
      async () => (await sw.exec(`systemctl show -P ActiveState ${TRANSIENT}`)).stdout.trim() === "active",
      60_000,
      100,
    );
    expect(running).toBe(true);
    // Kill the sshd process serving the switch's session: the parent of `systemd-run --wait`.
    const killed = await sw.run(
      [
        "for p in /proc/[0-9]*; do",
        '  tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "^systemd-run .*--unit=nixos-rebuild-switch-to-configuration" || continue',
        '  pp=$(cut -d" " -f4 $p/stat); tr "\\0" " " < /proc/$pp/cmdline; echo; kill -9 $pp',
        "done",
      ].join("\n"),
    );
    expect(killed).toMatch(/^sshd: root/m);
    const seen = await poll(async () => (await outcomes("switches", "redeploy")).length > 0, 120_000, 250);
    expect(seen).toBe(true);
    const [o] = await outcomes("switches", "redeploy");
    expect(o?.outcome, o?.reason).toBe("success");
    // The stand-in saw its ssh die (nixops4-nixos passes exit 255 on) …
    expect(o?.reason).toContain("Local resource process failed with exit code: 255");
    // … and the probes after it found the switch done: the transient unit gone, the new units up.
    expect(o?.reason).toContain("sw1: app.service active (running), late.service active (running)");
    expect(flake.calls().find((c) => c.event === "end")?.exit).toBe(1);
    expect(await sw.currentSystem()).toBe(g.toplevel);
    // The job's log says what decided it.
    expect(await jobLog(o?.jobId ?? "?")).toContain("the next probes of sw1 decide the outcome");
  }, 200_000);

  it("a rollback whose ssh session dies while its switch unit carries on: decided by the probes after it, on the target system", async () => {
    // The host runs the generation the last test deployed; its app.service takes 3 s to start.
    const target = sw.generations.at(-1)!;
    const newer = sw.addGeneration({
      units: { ...target.units, "app.service": service("/bin/sleep 300000") },
    });
    flake.deploy(sw, newer);
    const deployed = await n.api("/api/v1/deployments/switches/redeploy", { force: true });
    expect(deployed.status, deployed.text).toBe(202);
    expect(await poll(async () => (await sw.currentSystem()) === newer.toplevel, 120_000, 250)).toBe(true);
    expect(await poll(async () => (await outcomes("switches", "redeploy")).length >= 2, 120_000, 250)).toBe(
      true,
    );
    // Back to the slow-starting generation: the switch restarts app.service for 3 s.
    const asked = await n.api("/api/v1/hosts/sw1/rollback", { to: target.toplevel, force: true });
    expect(asked.status, asked.text).toBe(202);
    const running = await poll(
      async () =>
        (
          await sw.exec("systemctl list-units --no-legend --plain --state=active 'nixguard-rollback-*'")
        ).stdout.trim() !== "",
      60_000,
      100,
    );
    expect(running).toBe(true);
    // Kill the sshd process serving the rollback's session (an ancestor of `systemd-run --wait`).
    const killed = await sw.run(
      [
        "for p in /proc/[0-9]*; do",
        '  tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "^systemd-run .*--unit=nixguard-rollback-" || continue',
        '  q=$(cut -d" " -f4 $p/stat)',
        '  while [ "$q" -gt 1 ]; do c=$(tr "\\0" " " < /proc/$q/cmdline); case "$c" in sshd:*) echo "$c"; kill -9 $q; break;; esac; q=$(cut -d" " -f4 /proc/$q/stat); done',
        "done",
      ].join("\n"),
    );
    expect(killed).toMatch(/^sshd: root/m);
    const seen = await poll(async () => (await outcomes("switches", "rollback")).length > 0, 120_000, 250);
    expect(seen).toBe(true);
    const [o] = await outcomes("switches", "rollback");
    expect(o?.outcome, o?.reason).toBe("success");
    expect(o?.reason).toContain("the connection broke");
    expect(o?.reason).toContain(`then on ${target.toplevel}; app.service active (running)`);
    expect(await sw.currentSystem()).toBe(target.toplevel);
    expect(await jobLog(o?.jobId ?? "?")).toContain("the next probes decide the rollback's outcome");
  }, 300_000);
});
