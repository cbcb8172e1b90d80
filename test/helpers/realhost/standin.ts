import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Generation } from "./generation.js";
import type { RealHost } from "./host.js";

/** The stand-in executable: NixGuard's nixops4.command (it must run in the flake directory). */
export const NIXOPS4_STANDIN = fileURLToPath(new URL("./nixops4-standin", import.meta.url));

export interface StandinMachine {
  host: RealHost;
  /** The machine's resource path, e.g. ["fediversity", "web1"]: target "fediversity" applies it. */
  resource: string[];
  /** ssh ConnectTimeout / ConnectionAttempts of the switch (nixops4-nixos: 10 s × 12). */
  connectTimeout?: number;
  connectionAttempts?: number;
}

export interface StandinCall {
  event: "start" | "end";
  t: number;
  pid: number;
  argv?: string[];
  machines?: string[];
  exit?: number;
  signal?: string;
  durationMs?: number;
}

/**
 * A flake directory for the stand-in: which machines a target switches and which system each
 * apply deploys (the test chooses with `deploy(host, generation)`; otherwise the host's newest).
 */
export interface StandinFlake {
  dir: string;
  command: string;
  /** The system the next apply switches `host` to. */
  deploy(host: RealHost, generation: Generation): void;
  /** "new" (default): progress on stderr, composite paths; "old": stdout, one deployment name. */
  setCli(cli: "new" | "old"): void;
  calls(): StandinCall[];
  cleanup(): void;
}

export function makeStandinFlake(machines: StandinMachine[]): StandinFlake {
  const dir = mkdtempSync(join(tmpdir(), "nixguard-standin-"));
  const ctl = join(dir, ".nixops4-standin");
  mkdirSync(ctl);
  // nixops4 finds its root in the working directory; the stand-in reads the file below instead.
  writeFileSync(
    join(dir, "flake.nix"),
    "# nixops4 stand-in: see .nixops4-standin/deployment.json\n{ outputs = _: { }; }\n",
  );
  const chosen = new Map<RealHost, Generation>();
  let cli: "new" | "old" = "new";
  const write = () =>
    writeFileSync(
      join(ctl, "deployment.json"),
      JSON.stringify({
        cli,
        machines: machines.map((m) => {
          const g = chosen.get(m.host) ?? m.host.generations.at(-1);
          return {
            resource: m.resource,
            address: m.host.address,
            user: "root",
            identityFile: m.host.identityFile,
            knownHostsFile: m.host.knownHostsFile,
            toplevel: g?.toplevel,
            ...(m.connectTimeout !== undefined ? { connectTimeout: m.connectTimeout } : {}),
            ...(m.connectionAttempts !== undefined ? { connectionAttempts: m.connectionAttempts } : {}),
          };
        }),
      }),
    );
  write();
  const unsubscribe = machines.map((m) => m.host.onGeneration(() => write()));
  return {
    dir,
    command: NIXOPS4_STANDIN,
    deploy: (host, generation) => {
      chosen.set(host, generation);
      write();
    },
    setCli: (c) => {
      cli = c;
      write();
    },
    calls: () => {
      try {
        return readFileSync(join(ctl, "calls.jsonl"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as StandinCall);
      } catch {
        return [];
      }
    },
    cleanup: () => {
      for (const stop of unsubscribe) stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
