import { type ChildProcess, spawn } from "node:child_process";
import { createConnection, createServer, type Server } from "node:net";
import { createVethNamespace, deleteVethNamespace, ip } from "./veth.js";

/**
 * A test host behind a real network link: a network namespace joined to the root namespace by a
 * veth pair, addresses in 10.213.N.0/30 (private; nothing else on the machine uses them).
 * `down()`/`up()` cut and restore the link. Needs root (CAP_NET_ADMIN). Always `destroy()`.
 */
export interface Netns {
  name: string;
  /** Address of the root-namespace end of the veth. */
  hostAddr: string;
  /** Address inside the namespace: what NixGuard connects to. */
  nsAddr: string;
  down(): void;
  up(): void;
  /** Forwards nsAddr:port (inside the namespace) to hostAddr:port, which forwards to 127.0.0.1:target. */
  forward(port: number, target: number): Promise<void>;
  destroy(): Promise<void>;
}

export function netnsAvailable(): boolean {
  try {
    ip("netns", "list");
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

export async function createNetns(index = process.pid % 250): Promise<Netns> {
  const name = `ngfault${process.pid}`;
  const hostIf = `ngf${process.pid}a`.slice(0, 15);
  const nsIf = `ngf${process.pid}b`.slice(0, 15);
  const hostAddr = `10.213.${index}.1`;
  const nsAddr = `10.213.${index}.2`;
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  const cleanup = () => deleteVethNamespace(name, hostIf);
  cleanup();
  createVethNamespace({
    netns: name,
    rootLink: hostIf,
    nsLink: nsIf,
    rootAddress: hostAddr,
    nsAddress: nsAddr,
  });
  return {
    name,
    hostAddr,
    nsAddr,
    down: () => ip("link", "set", hostIf, "down"),
    up: () => ip("link", "set", hostIf, "up"),
    forward: async (port, target) => {
      // Root side: hostAddr:port → 127.0.0.1:target (the simulator).
      const root = createServer((s) => {
        const up = createConnection({ host: "127.0.0.1", port: target });
        s.pipe(up).pipe(s);
        s.on("error", () => up.destroy());
        up.on("error", () => s.destroy());
      });
      await new Promise<void>((r, j) => root.once("error", j).listen(port, hostAddr, () => r()));
      servers.push(root);
      // Namespace side: one node process, nsAddr:port → hostAddr:port through the veth.
      const script = `
        const net = require("node:net");
        net.createServer((s) => {
          const up = net.createConnection({ host: ${JSON.stringify(hostAddr)}, port: ${port} });
          s.pipe(up).pipe(s);
          s.on("error", () => up.destroy());
          up.on("error", () => s.destroy());
        }).listen(${port}, ${JSON.stringify(nsAddr)}, () => console.log("listening"));`;
      const child = spawn("ip", ["netns", "exec", name, process.execPath, "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      await new Promise<void>((r, j) => {
        child.stdout?.once("data", () => r());
        child.once("exit", (code) => j(new Error(`namespace forwarder exited (${code})`)));
      });
    },
    destroy: async () => {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          const exited = new Promise((r) => c.once("exit", r));
          c.kill("SIGKILL");
          await exited;
        }
      }
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      cleanup();
    },
  };
}
