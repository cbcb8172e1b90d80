import { createServer } from "node:net";
import { NixGuardError } from "../errors.js";
import { resolveCommand } from "../exec/env.js";
import { createRedis } from "../redis/connection.js";

/** What the demo needs from the machine, checked before anything starts, with the fix in the message. */
export function checkPrerequisites(opts: { redisUrl?: string; path?: string }): void {
  const path = opts.path ?? process.env["PATH"];
  if (!opts.redisUrl && !resolveCommand("redis-server", path)) {
    throw new NixGuardError(
      "REDIS_NOT_INSTALLED",
      "the demo starts a private redis-server, and none is on PATH. Either install it " +
        "(Debian/Ubuntu: apt install redis-server; macOS: brew install redis; Nix: nix-shell -p redis), " +
        "or point the demo at a Redis you run: nixguard demo --redis-url redis://127.0.0.1:6379/15 " +
        "(its keys go under a prefix of their own and are deleted on exit).",
    );
  }
  if (!resolveCommand("bash", path)) {
    throw new NixGuardError(
      "COMMAND_NOT_FOUND",
      "the demo's simulated ssh and nixops4 are bash scripts, and bash is not on PATH: install bash.",
    );
  }
}

/** `preferred` when it is free on 127.0.0.1, else 0 (any free port). */
export function pickPort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(0));
    probe.listen(preferred, "127.0.0.1", () => probe.close(() => resolve(preferred)));
  });
}

/** Removes the demo's keys from a Redis the user gave (--redis-url); the private one goes with its directory. */
export async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = createRedis(url, { role: "client" });
  try {
    let cursor = "0";
    do {
      const [next, keys] = (await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500)) as [
        string,
        string[],
      ];
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
