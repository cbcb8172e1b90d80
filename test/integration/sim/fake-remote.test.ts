import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type SimBin, writeSimBin } from "../../../src/sim/bin.js";
import { writeSimFlakes } from "../../../src/sim/config.js";
import { SimControlClient } from "../../../src/sim/control-client.js";
import { simLayout } from "../../../src/sim/layout.js";
import { type SimServer, startSimulation } from "../../../src/sim/server.js";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
  ms: number;
}

function run(
  file: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; killSignal?: NodeJS.Signals } = {},
): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 10_000, killSignal: opts.killSignal ?? "SIGTERM" },
      (_err, stdout, stderr) =>
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          stdout,
          stderr,
          pid: child.pid ?? 0,
          ms: Date.now() - started,
        }),
    );
  });
}

/** GET with an explicit Host header, connecting to `address` (what curl --resolve does). */
function get(
  address: string,
  port: number,
  host: string,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, headers: { host }, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const layout = simLayout("fediversity");
let sim: SimServer;
let bin: SimBin;
let dir: string;
let flake: string;
let control: SimControlClient;

// The argv the production ssh transport builds (src/probes/transports/ssh.ts), plus a command.
const sshArgv = (address: string, command: string) => [
  "-o",
  "BatchMode=yes",
  "-o",
  "ConnectTimeout=10",
  "-o",
  "StrictHostKeyChecking=yes",
  "-o",
  `UserKnownHostsFile=${dir}/known_hosts`,
  "-o",
  "ControlMaster=auto",
  "-o",
  `ControlPath=${dir}/cm-%C`,
  "-o",
  "ControlPersist=300",
  "-i",
  `${dir}/id_ed25519`,
  "-p",
  "22",
  "-l",
  "root",
  "--",
  address,
  command,
];

const PROBE =
  "systemctl show --property=Id,LoadState,ActiveState,SubState,Result,NRestarts,Type,ActiveEnterTimestamp " +
  "'mastodon-web.service' 'x.service'; echo '--nixguard--'; readlink /run/current-system";

beforeAll(async () => {
  sim = await startSimulation(layout);
  dir = mkdtempSync(join(tmpdir(), "nixguard-sim-"));
  bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
  flake = writeSimFlakes(layout, join(dir, "flake")).fediversity as string;
  control = new SimControlClient(sim.url);
});

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await control.healAll();
  await control.setNixops4({ mode: "ok", delayMs: 200, newGeneration: false, cli: "newer" });
});

describe("fake ssh", () => {
  it("runs the remote command on the simulated host with the fakes answering in real formats", async () => {
    const r = await run(bin.ssh, sshArgv("127.10.0.2", PROBE));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [show, system] = r.stdout.split("--nixguard--\n") as [string, string];
    expect(show).toBe(
      "Type=simple\nResult=success\nNRestarts=0\nId=mastodon-web.service\nLoadState=loaded\nActiveState=active\n" +
        "SubState=running\nActiveEnterTimestamp=Mon 2026-11-23 10:00:00 UTC\n\n" +
        "Type=\nResult=success\nNRestarts=0\nId=x.service\nLoadState=not-found\nActiveState=inactive\n" +
        "SubState=dead\nActiveEnterTimestamp=\n",
    );
    expect(system).toBe(`${(await control.host("mastodon")).desiredSystem}\n`);
  });

  it("shows an injected unit failure and heals it with systemctl restart", async () => {
    await control.inject({ kind: "unit-fail", host: "mastodon", unit: "mastodon-web.service" });
    const failed = await run(
      bin.ssh,
      sshArgv("127.10.0.2", "systemctl show -p ActiveState,Result mastodon-web.service"),
    );
    expect(failed.stdout).toBe("Result=exit-code\nActiveState=failed\n");
    const restart = await run(bin.ssh, sshArgv("127.10.0.2", "systemctl restart 'mastodon-web.service'"));
    expect([restart.code, restart.stderr]).toEqual([0, ""]);
    const back = await run(
      bin.ssh,
      sshArgv("127.10.0.2", "systemctl show -p ActiveState mastodon-web.service"),
    );
    expect(back.stdout).toBe("ActiveState=active\n");
  });

  it("passes real files through the fake cat and keeps the remote exit status", async () => {
    const r = await run(
      bin.ssh,
      sshArgv("127.10.0.4", "cat /proc/loadavg; nproc; cat /etc/hostname >/dev/null; exit 7"),
    );
    expect(r.code).toBe(7);
    expect(r.stdout).toBe("0.15 0.20 0.10 1/312 4242\n4\n");
  });

  it("fails like ssh for an unreachable host (after the delay) and a changed host key", async () => {
    await control.inject({ kind: "unreachable", host: "peertube", delayMs: 300 });
    const r = await run(bin.ssh, sshArgv("127.10.0.3", PROBE));
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("ssh: connect to host 127.10.0.3 port 22: Connection timed out\r\n");
    expect(r.ms).toBeGreaterThanOrEqual(300);

    await control.inject({ kind: "host-key", host: "garage" });
    const k = await run(bin.ssh, sshArgv("127.10.0.1", PROBE));
    expect(k.code).toBe(255);
    expect(k.stderr).toContain("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!");
    expect(k.stderr.endsWith("Host key verification failed.\r\n")).toBe(true);
  });

  it("a hung host never answers and dies with its PID (no child left behind)", async () => {
    await control.inject({ kind: "unreachable", host: "peertube", mode: "hang" });
    const r = await run(bin.ssh, sshArgv("127.10.0.3", PROBE), { timeoutMs: 500 });
    expect(r.code).toBeNull(); // killed by the timeout's SIGTERM
    expect(() => process.kill(r.pid, 0)).toThrow();
  });
});

describe("simulated HTTP endpoints", () => {
  it("answer like the services, then 502 through nginx when their unit is down", async () => {
    const host = "mastodon.demo.nixguard.test";
    expect(await get("127.10.0.2", sim.port, host, "/health")).toEqual({ status: 200, body: "OK" });
    expect(await get("127.10.0.3", sim.port, "peertube.demo.nixguard.test", "/api/v1/ping")).toEqual({
      status: 200,
      body: "pong",
    });
    await control.inject({ kind: "unit-stop", host: "mastodon", unit: "mastodon-web.service" });
    const down = await get("127.10.0.2", sim.port, host, "/health");
    expect(down.status).toBe(502);
    expect(down.body).toContain("<center><h1>502 Bad Gateway</h1></center>");
    // The streaming API has its own units and stays up; through nixpkgs' location its health
    // endpoint is under the stripped prefix, and the path that looks right is a refused channel.
    expect(await get("127.10.0.2", sim.port, host, "/api/v1/streaming/api/v1/streaming/health")).toEqual({
      status: 200,
      body: "OK",
    });
    expect((await get("127.10.0.2", sim.port, host, "/api/v1/streaming/health")).status).toBe(400);
  });

  it("route Garage's admin API by the host's own address, and by /addr/<host>/ on the shared port", async () => {
    expect((await get("127.10.0.1", sim.port, `127.10.0.1:${sim.port}`, "/health")).status).toBe(200);
    expect((await get("127.0.0.1", sim.port, `127.0.0.1:${sim.port}`, "/addr/garage/health")).status).toBe(
      200,
    );
  });

  it("make an endpoint answer a chosen status, or flap on every other request", async () => {
    await control.inject({ kind: "http", host: "pixelfed", check: "pixelfed-health", status: 503 });
    const path = "/api/service/health-check";
    expect((await get("127.10.0.4", sim.port, "pixelfed.demo.nixguard.test", path)).status).toBe(503);
    await control.healAll();
    await control.inject({ kind: "flap", host: "pixelfed", check: "pixelfed-health" });
    const seen: number[] = [];
    for (let i = 0; i < 4; i++)
      seen.push((await get("127.10.0.4", sim.port, "pixelfed.demo.nixguard.test", path)).status);
    expect(seen).toEqual([502, 200, 502, 200]);
  });
});

/** Runs the fake nixops4 and sends it `sig` once it hangs (its output pipes stay open, unlike execFile's timeout). */
function signalled(args: string[], sig: NodeJS.Signals): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(bin.nixops4, args, { cwd: flake, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => {
      stdout += b;
    });
    child.stderr.on("data", (b) => {
      stderr += b;
    });
    // Waits for the apply to be recorded as hung (it began), then signals.
    const poll = setInterval(async () => {
      const runs = await control.applyRuns();
      if (runs.some((r) => r.pid === child.pid && r.status === "hung")) {
        clearInterval(poll);
        child.kill(sig);
      }
    }, 50);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stdout, stderr, pid: child.pid ?? 0, ms: Date.now() - started });
    });
  });
}

describe("fake nixops4", () => {
  it("deploys the target: heals a unit that keeps failing and a drift, prints real progress, exit 0", async () => {
    await control.inject({
      kind: "unit-fail",
      host: "mastodon",
      unit: "mastodon-web.service",
      keepFailing: true,
    });
    await control.inject({ kind: "drift", host: "mastodon" });
    const before = await control.host("mastodon");
    expect(before.currentSystem).not.toBe(before.desiredSystem);
    expect((await control.restart("mastodon", ["mastodon-web.service"]))[0]?.outcome).toBe("failed");

    const r = await run(bin.nixops4, ["apply", "--no-interactive", "--show-trace", "fediversity"], {
      cwd: flake,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z {2}INFO Resolving composite path: nixops4::work: new\n/,
    );
    expect(r.stderr).toContain(
      'INFO Applying composite:Applying resource{resource=ComponentPath(["fediversity", "mastodon"])}:creating resource{name="fediversity.mastodon"}: nixops4::work: new\n',
    );
    expect(r.ms).toBeGreaterThanOrEqual(200);
    const after = await control.host("mastodon");
    expect(after.currentSystem).toBe(after.desiredSystem);
    expect(after.downUnits).toEqual([]);
    const [apply] = (await control.applyRuns()).slice(-1);
    expect(apply).toMatchObject({
      cwd: flake,
      hosts: ["garage", "mastodon", "peertube", "pixelfed"],
      status: "succeeded",
      exitCode: 0,
      overlapped: false,
    });
    expect(apply?.args.noInteractive).toBe(true);
  });

  it("fails with exit 1 and the anyhow chain, panics with 101, refuses bad argv with clap's 2", async () => {
    await control.setNixops4({ mode: "fail", delayMs: 50 });
    const f = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity"], { cwd: flake });
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(
      /nixops4 error: Failed to create stateless resource fediversity\.garage\n\nCaused by:\n {4}Local resource process failed with exit code: 1\n$/,
    );
    await control.setNixops4({ mode: "panic", delayMs: 0 });
    const p = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity"], { cwd: flake });
    expect(p.code).toBe(101);
    expect(p.stderr).toContain("thread 'main' panicked at");
    const u = await run(bin.nixops4, ["apply", "--bogus"], { cwd: flake });
    expect([u.code, u.stderr.split("\n")[0]]).toEqual([2, "error: unexpected argument '--bogus' found"]);
    const noFlake = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity"], { cwd: dir });
    expect(noFlake.code).toBe(1);
  });

  it("the older CLI: tracing on stdout, deployment paths relative, a dot path is an unknown deployment", async () => {
    await control.setNixops4({ cli: "older" });
    const r = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity"], { cwd: flake });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'INFO Applying composite:Applying resource{resource=ComponentPath(["garage"])}: nixops4::work: new\n',
    );
    expect(r.stderr).not.toMatch(/ INFO /);
    expect(r.stderr).toMatch(
      /^The following resources \(and nested composites, if any\) will be applied:\n {2}- garage\n/,
    );
    const list = await run(bin.nixops4, ["deployments", "list", "--no-interactive"], { cwd: flake });
    expect([list.code, list.stdout]).toEqual([0, "fediversity\n"]);
    const dot = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity.mastodon"], { cwd: flake });
    expect([dot.code, dot.stderr]).toEqual([1, "nixops4 error: attribute 'fediversity.mastodon' missing\n"]);
    const members = await run(bin.nixops4, ["members", "list"], { cwd: flake });
    expect([members.code, members.stderr.split("\n")[0]]).toEqual([
      2,
      "error: unrecognized subcommand 'members'",
    ]);
  });

  it("the newer CLI: a machine is a resource, refused by apply; members list; --help; -vv is a usage error", async () => {
    const r = await run(bin.nixops4, ["apply", "--no-interactive", "--", "fediversity.mastodon"], {
      cwd: flake,
    });
    expect([r.code, r.stderr]).toEqual([
      1,
      "nixops4 error: Expected composite at fediversity.mastodon, but found resource\n",
    ]);
    const root = await run(bin.nixops4, ["members", "list", "--no-interactive"], { cwd: flake });
    expect([root.code, root.stdout]).toEqual([0, "fediversity\n"]);
    const dep = await run(bin.nixops4, ["members", "list", "--", "fediversity"], { cwd: flake });
    expect(dep.stdout).toBe("garage\nmastodon\npeertube\npixelfed\n");
    const res = await run(bin.nixops4, ["members", "list", "--", "fediversity.garage"], { cwd: flake });
    expect([res.code, res.stderr]).toEqual([
      1,
      "nixops4 error: Failed to resolve path 'fediversity.garage' for members list\n\nCaused by:\n    Expected composite at fediversity.garage, but found resource\n",
    ]);
    const help = await run(bin.nixops4, ["--help"], { cwd: flake });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}members {2}Commands that operate on component members$/m);
    const vv = await run(bin.nixops4, ["-vv", "apply"], { cwd: flake });
    expect([vv.code, vv.stderr.split("\n")[0]]).toEqual([
      2,
      "error: the argument '--verbose' cannot be used multiple times",
    ]);
    expect(vv.stderr).toContain(
      "\nUsage: nixops4 apply [OPTIONS] [PATH]...\n\nFor more information, try '--help'.\n",
    );
  });

  it("SIGINT stops an apply (nixops4 error: interrupted, exit 1); SIGTERM kills it outright; neither lands", async () => {
    await control.inject({ kind: "drift", host: "garage" });
    await control.setNixops4({ mode: "hang" });
    const int = await signalled(["apply", "--no-interactive", "fediversity"], "SIGINT");
    expect([int.code, int.signal]).toEqual([1, null]);
    expect(int.stderr).toMatch(/nixops4 error: interrupted\n$/);
    const term = await signalled(["apply", "--no-interactive", "fediversity"], "SIGTERM");
    expect([term.code, term.signal]).toEqual([null, "SIGTERM"]);
    expect(term.stderr).not.toContain("nixops4 error");
    const garage = await control.host("garage");
    expect(garage.currentSystem).not.toBe(garage.desiredSystem);
  });

  it("a hung apply killed by its PID never lands and is recorded as killed", async () => {
    await control.inject({ kind: "drift", host: "garage" });
    await control.setNixops4({ mode: "hang" });
    const r = await run(bin.nixops4, ["apply", "--no-interactive", "fediversity"], {
      cwd: flake,
      timeoutMs: 400,
    });
    expect(r.code).toBeNull();
    const garage = await control.host("garage");
    expect(garage.currentSystem).not.toBe(garage.desiredSystem);
    const [last] = (await control.applyRuns()).slice(-1);
    expect(last?.status).toBe("killed");
  });
});
