import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SshSpec } from "../../src/probes/transports/ssh.js";
import { freePort } from "./redis.js";

/**
 * A real OpenSSH server for tests: /usr/sbin/sshd on a free loopback port with generated host and
 * client keys, a known_hosts file for it, and the fake systemctl/readlink/df of
 * test/fixtures/systemctl/bin first on the remote PATH (sshd's SetEnv). The fakes answer from
 * `fixtureDir`, which the test rewrites. The remote user is root (the test runner's own user).
 * SHLVL=1 stops bash from sourcing ~/.bashrc for ssh commands, so the remote side runs exactly
 * the probe line.
 */
export interface TestSshd {
  port: number;
  pid: number;
  dir: string;
  fixtureDir: string;
  identityFile: string;
  knownHostsFile: string;
  /** A known_hosts file that names this port with a different host key. */
  wrongKnownHostsFile: string;
  /** A transport spec for this server; override fields to break it on purpose. */
  spec(overrides?: Partial<SshSpec>): SshSpec;
  /** TCP connections sshd accepted so far (its VERBOSE log's "Connection from" lines). */
  acceptedConnections(): number;
  /** Writes units/NAME for the fake systemctl. */
  setUnit(name: string, props: Record<string, string>): void;
  removeUnit(name: string): void;
  /** Makes every fake systemctl call hang (or stop hanging). */
  setHang(hang: boolean): void;
  stop(): Promise<void>;
}

export const FAKE_BIN = fileURLToPath(new URL("../fixtures/systemctl/bin", import.meta.url));
const SSHD = "/usr/sbin/sshd";

function keygen(path: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixguard-test", "-f", path]);
  const [type, key] = readFileSync(`${path}.pub`, "utf8").trim().split(" ");
  return `${type} ${key}`;
}

/** Every descendant of `pid` (children first listed last), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // Exited while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/** Children of `pid` whose command name is `comm` (e.g. ssh), from /proc. */
export function childrenNamed(pid: number, comm: string): number[] {
  return descendants(pid).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) === comm && !stat.includes(") Z ");
    } catch {
      return false;
    }
  });
}

/** Kills the process groups of fake systemctl calls left hanging (sshd orphans them on disconnect). */
export function killHung(fixtureDir: string): void {
  const file = join(fixtureDir, "hung-pids");
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number)) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep")) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      process.kill(pgid > 1 ? -pgid : pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  rmSync(file, { force: true });
}

export function unitBlock(id: string, props: Record<string, string> = {}): Record<string, string> {
  return {
    Type: "simple",
    Result: "success",
    NRestarts: "0",
    Id: id,
    LoadState: "loaded",
    ActiveState: "active",
    SubState: "running",
    ActiveEnterTimestamp: "@1763900000",
    ...props,
  };
}

export interface SshdOptions {
  /** Directory put first on the remote PATH instead of the fake systemctl's (benchmarks' cheap fakes). */
  fakeBin?: string;
  /** sshd's MaxStartups (unauthenticated connections at once); benchmarks opening many raise it. */
  maxStartups?: number;
}

export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  // Short path: the ssh control socket lives under it too (unix socket paths are ≤ 107 bytes).
  const dir = mkdtempSync("/tmp/ngsshd-");
  const fixtureDir = join(dir, "fixture");
  mkdirSync(join(fixtureDir, "units"), { recursive: true });
  const hostKey = keygen(join(dir, "host_ed25519"));
  const otherKey = keygen(join(dir, "other_ed25519"));
  const clientKey = keygen(join(dir, "client_ed25519"));
  writeFileSync(join(dir, "authorized_keys"), `${clientKey}\n`);
  const port = await freePort();
  const knownHostsFile = join(dir, "known_hosts");
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);
  const wrongKnownHostsFile = join(dir, "known_hosts.wrong");
  writeFileSync(wrongKnownHostsFile, `[127.0.0.1]:${port} ${otherKey}\n`);
  const log = join(dir, "sshd.log");
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      // The temp dir lives under /tmp (mode 1777), which StrictModes would refuse.
      "StrictModes no",
      "PidFile none",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "MaxSessions 100",
      `MaxStartups ${opts.maxStartups ?? 100}`,
      "LogLevel VERBOSE",
      `SetEnv PATH=${opts.fakeBin ?? FAKE_BIN}:/usr/bin:/bin NIXGUARD_FIXTURE=${fixtureDir} SHLVL=1`,
      "",
    ].join("\n"),
  );
  // sshd's privilege separation directory; Debian creates it from systemd, which is absent here.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  const child: ChildProcess = spawn(SSHD, ["-D", "-f", config, "-E", log], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("sshd did not start");
  const readLog = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
  const deadline = Date.now() + 10_000;
  while (!readLog().includes("Server listening")) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${readLog()}`);
    if (Date.now() > deadline) throw new Error(`sshd did not start listening: ${readLog()}`);
    await new Promise((r) => setTimeout(r, 20));
  }

  const write = (path: string, text: string) => writeFileSync(join(fixtureDir, path), text);
  return {
    port,
    pid,
    dir,
    fixtureDir,
    identityFile: join(dir, "client_ed25519"),
    knownHostsFile,
    wrongKnownHostsFile,
    spec: (overrides = {}) => ({
      kind: "ssh",
      command: "ssh",
      address: "127.0.0.1",
      user: "root",
      port,
      identityFile: join(dir, "client_ed25519"),
      knownHostsFile,
      connectTimeoutMs: 5000,
      controlPersistMs: 60_000,
      ...overrides,
    }),
    acceptedConnections: () => readLog().match(/^Connection from /gm)?.length ?? 0,
    setUnit: (name, props) =>
      write(
        `units/${name}`,
        Object.entries(props)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(""),
      ),
    removeUnit: (name) => rmSync(join(fixtureDir, "units", name), { force: true }),
    setHang: (hang) => (hang ? write("hang", "") : rmSync(join(fixtureDir, "hang"), { force: true })),
    stop: async () => {
      killHung(fixtureDir);
      // Connection handlers and their sessions (a hung fake systemctl) first, by PID, then sshd.
      for (const p of descendants(pid).reverse()) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
