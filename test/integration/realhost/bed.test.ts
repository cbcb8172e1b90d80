import { existsSync } from "node:fs";
import { beforeAll, expect, it } from "vitest";
import { ProgressTracker } from "../../../src/nixops4/progress.js";
import { runApply } from "../../../src/queue/nixops4.js";
import { waitFor } from "../../helpers/fake-nixops4.js";
import {
  describeRealhost,
  FIRST_BOOT_TIMEOUT_MS,
  type Generation,
  makeStandinFlake,
  type RealHost,
  realhostBed,
} from "../../helpers/realhost/index.js";
import { linkNames, netnsNames } from "../../helpers/realhost/network.js";
import { service } from "../../helpers/realhost/units.js";

// Fails until /run/heal-me exists: a failed unit a restart can heal.
const FLAKY = service("/bin/sh -c 'test -e /run/heal-me || exit 1; exec sleep infinity'");
const signal = () => AbortSignal.timeout(20_000);
const TRANSIENT = "nixos-rebuild-switch-to-configuration.service";

/** The switch's transient unit is collected once it finished (asynchronously: polled, bounded). */
async function expectTransientCollected(host: RealHost): Promise<void> {
  const loadState = async () => (await host.exec(`systemctl show -P LoadState ${TRANSIENT}`)).stdout.trim();
  if (await waitFor(async () => (await loadState()) === "not-found", 15_000, 200)) return;
  const why = await host.exec(
    `systemctl show -p LoadState,ActiveState,SubState,Result,MainPID,Job,CollectMode ${TRANSIENT}; systemctl status --no-pager ${TRANSIENT}; systemctl list-jobs --no-pager`,
  );
  expect.fail(`${TRANSIENT} still loaded:\n${why.stdout}${why.stderr}`);
}

/** nixops4 settings for the stand-in: NixGuard's apply path with a test's timeout. */
const settings = (command: string, timeout: number) => ({
  command,
  timeout,
  interruptGrace: 5000,
  killGrace: 5000,
  stragglerGrace: 500,
  extraArgs: [],
});

describeRealhost("real-host test bed", () => {
  const bed = realhostBed();
  let web: RealHost;

  beforeAll(async () => {
    web = await bed.boot({
      name: "web1",
      system: {
        units: {
          "app.service": service("/bin/sleep infinity"),
          "flaky.service": FLAKY,
          "old.service": service("/bin/sleep infinity"),
        },
      },
    });
  }, FIRST_BOOT_TIMEOUT_MS);

  it("is probed through NixGuard's ssh transport: units as systemd reports them, the current system", async () => {
    const t = web.transport();
    try {
      const facts = await t.fetch(["app.service", "flaky.service", "absent.service"], signal());
      expect(facts.units["app.service"]).toMatchObject({
        loadState: "loaded",
        activeState: "active",
        subState: "running",
      });
      expect(facts.units["flaky.service"]).toMatchObject({ activeState: "failed", result: "exit-code" });
      expect(facts.units["absent.service"]).toMatchObject({ loadState: "not-found" });
      const g1 = web.generations[0];
      expect(facts.currentSystem).toBe(g1?.toplevel);
      expect(facts.currentSystem).toMatch(
        /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-nixos-system-web1-\d+\.\d+\.\S+$/,
      );
      expect((await web.run("readlink /nix/var/nix/profiles/system")).trim()).toBe("system-1-link");
      expect((await web.run("readlink /run/booted-system")).trim()).toBe(g1?.toplevel);
      expect((await web.run("hostname")).trim()).toBe("web1");
    } finally {
      await t.close();
    }
  });

  it("restarts a failed unit through the transport", async () => {
    const t = web.transport();
    try {
      await web.run("touch /run/heal-me");
      await t.restart(["flaky.service"], signal());
      const facts = await t.fetch(["flaky.service"], signal());
      expect(facts.units["flaky.service"]).toMatchObject({ activeState: "active", subState: "running" });
    } finally {
      await t.close();
    }
  });

  it("switches to a second generation with the nixops4 stand-in, run as NixGuard runs nixops4", async () => {
    const g1 = web.generations[0];
    const g2 = web.addGeneration({
      units: {
        "app.service": service("/bin/sleep 100000"), // changed: restarted
        "flaky.service": FLAKY,
        "new.service": service("/bin/sleep infinity"), // added: started
        // old.service dropped: stopped
      },
    });
    await web.run("touch /run/heal-me"); // flaky.service may start: a unit left failed fails the switch (exit 4)
    const pidBefore = (await web.run("systemctl show -P MainPID app.service")).trim();
    const flake = makeStandinFlake([{ host: web, resource: ["fediversity", "web1"] }]);
    try {
      const stderr: Buffer[] = [];
      const r = await runApply({
        settings: settings(flake.command, 120_000),
        flakeDir: flake.dir,
        target: "fediversity",
        onStderr: (b) => stderr.push(b),
      });
      const log = Buffer.concat(stderr).toString();
      expect(r, log).toMatchObject({ outcome: "success", exitCode: 0 });
      expect(log).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z {2}INFO Applying composite:Applying resource\{resource=ComponentPath\(\["fediversity", "web1"\]\)\}: nixops4::work: new$/m,
      );
      // NixGuard's own reader of nixops4's progress sees the machine planned, started and finished.
      const progress = new ProgressTracker();
      for (const line of log.split("\n")) progress.push(line);
      expect(progress.snapshot()).toMatchObject({
        planned: 1,
        started: 1,
        finished: 1,
        running: [],
        message: "finished fediversity.web1",
      });
      expect(log).toContain("stopping the following units: old.service");
      expect(log).toContain("restarting the following units: app.service");
      expect(log).toContain("starting the following units: new.service");
      expect(flake.calls().map((c) => c.event)).toEqual(["start", "end"]);

      const t = web.transport();
      try {
        const facts = await t.fetch(["app.service", "new.service", "old.service"], signal());
        expect(facts.currentSystem).toBe(g2.toplevel);
        expect(facts.currentSystem).not.toBe(g1?.toplevel);
        expect(facts.units["new.service"]).toMatchObject({ activeState: "active" });
        expect(facts.units["old.service"]).toMatchObject({ loadState: "not-found", activeState: "inactive" });
        expect(facts.units["app.service"]).toMatchObject({ activeState: "active" });
      } finally {
        await t.close();
      }
      expect((await web.run("systemctl show -P MainPID app.service")).trim()).not.toBe(pidBefore);
      expect((await web.run("readlink /nix/var/nix/profiles/system")).trim()).toBe("system-2-link");
      // The switch ran in the transient unit, which is gone (--collect) once it finished.
      await expectTransientCollected(web);
    } finally {
      flake.cleanup();
    }
  }, 120_000);

  it("a switch goes on when the ssh session that started it dies (it runs in a transient unit)", async () => {
    const before = web.generations.at(-1) as Generation;
    const g = web.addGeneration({
      units: {
        ...before.units,
        // Changed, and its restart takes 3 s: the ssh session dies while switch-to-configuration waits.
        "app.service": service("/bin/sleep 100000", "ExecStartPre=/bin/sleep 3\n"),
        // Started only after the restarts, with a message written to the dead session first.
        "late.service": service("/bin/sleep infinity"),
      },
    });
    const transient = async () =>
      (await web.exec(`systemctl show -P ActiveState ${TRANSIENT}`)).stdout.trim();
    const cut = new AbortController();
    const session = web.switchTo(g, "switch", 60_000, cut.signal);
    // The session dies while the switch runs in its transient unit (app's restart takes 3 s).
    expect(await waitFor(async () => (await transient()) === "active", 30_000, 100)).toBe(true);
    cut.abort();
    expect((await session).exitCode).toBeNull();
    expect(await transient()).toBe("active");
    const started = await waitFor(
      async () => (await web.exec("systemctl is-active late.service")).stdout.trim() === "active",
      30_000,
      200,
    );
    expect(started).toBe(true);
    await expectTransientCollected(web);
    expect(await web.currentSystem()).toBe(g.toplevel);
    expect((await web.run("systemctl is-active app.service")).trim()).toBe("active");
  }, 60_000);

  it("refuses a target naming a machine resource, as the newer nixops4 does (exit 1)", async () => {
    const flake = makeStandinFlake([{ host: web, resource: ["fediversity", "web1"] }]);
    try {
      const r = await runApply({
        settings: settings(flake.command, 30_000),
        flakeDir: flake.dir,
        target: "fediversity.web1",
      });
      expect(r).toMatchObject({ outcome: "failed", exitCode: 1 });
      expect(r.message).toContain("Expected composite at fediversity.web1, but found resource");
    } finally {
      flake.cleanup();
    }
  });

  it("older CLI: the progress on stdout, members relative to the deployment; a unit left failed fails the apply", async () => {
    const before = web.generations.at(-1) as Generation;
    const broken = web.addGeneration({
      units: { ...before.units, "broken.service": service("/bin/sh -c 'exit 3'") },
    });
    const flake = makeStandinFlake([{ host: web, resource: ["fediversity", "web1"] }]);
    flake.setCli("old");
    try {
      const stdout: Buffer[] = [];
      const r = await runApply({
        settings: settings(flake.command, 120_000),
        flakeDir: flake.dir,
        target: "fediversity",
        onStdout: (b) => stdout.push(b),
      });
      const out = Buffer.concat(stdout).toString();
      expect(out).toMatch(
        /INFO Applying composite:Applying resource\{resource=ComponentPath\(\["web1"\]\)\}: nixops4::work: new$/m,
      );
      // switch-to-configuration exits 4 when units are left failed; nixops4-nixos' resource fails.
      expect(r).toMatchObject({ outcome: "failed", exitCode: 1 });
      expect(r.message).toBe(
        "nixops4 error: Failed to create stateless resource web1; caused by: Local resource process failed with exit code: 4",
      );
      expect(r.stderrTail).toContain("warning: the following units failed: broken.service");
      // The system was switched all the same, as NixOS does.
      expect(await web.currentSystem()).toBe(broken.toplevel);
    } finally {
      flake.cleanup();
    }
  }, 120_000);

  it("reboots into the profile's system", async () => {
    const before = web.boots;
    const current = await web.currentSystem();
    await web.reboot();
    expect(web.boots).toBe(before + 1);
    expect(await web.currentSystem()).toBe(current);
    expect((await web.run("readlink /run/booted-system")).trim()).toBe(current);
    expect((await web.run("systemctl is-active app.service new.service")).trim().split("\n")).toEqual([
      "active",
      "active",
    ]);
  }, 120_000);

  it("boots two hosts in parallel, and destroy() leaves nothing of a host behind", async () => {
    const [a, b] = await Promise.all([bed.boot({ name: "par-a" }), bed.boot({ name: "par-b" })]);
    expect(a.address).not.toBe(b.address);
    expect((await a.run("hostname")).trim()).toBe("par-a");
    expect((await b.run("hostname")).trim()).toBe("par-b");
    // Each host only accepts its own known host key: a's key file does not vouch for b.
    const crossed = await b.exec("true").then(() =>
      a
        .transport({ address: b.address })
        .fetch([], signal())
        .then(
          () => "accepted",
          (e: { code?: string }) => e.code,
        ),
    );
    expect(crossed).toBe("HOST_KEY_MISMATCH");

    const { nspawn, init } = a.pids();
    expect(nspawn).toBeDefined();
    expect(init).toBeDefined();
    await a.destroy();
    expect(netnsNames()).not.toContain(a.netns);
    expect(linkNames()).not.toContain(a.rootLink);
    expect(existsSync(`/proc/${nspawn}`)).toBe(false);
    expect(existsSync(`/proc/${init}`)).toBe(false);
    expect(existsSync(a.dir)).toBe(false);
    // The other host is untouched.
    expect((await b.run("systemctl is-system-running")).trim()).toMatch(/^(running|degraded)$/);
  }, 120_000);
});
