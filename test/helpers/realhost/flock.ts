import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Runs `fn` holding an exclusive flock(2) on `path`, across processes (vitest workers, the fixture
 * recorder). Node has no flock, so util-linux's `flock` holds it and keeps it until its stdin
 * closes — which also happens when this process dies, so a crashed holder never leaves it taken.
 */
export async function withFlock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const holder = spawn("flock", ["--exclusive", path, "sh", "-c", "echo locked; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => holder.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("error", reject);
    holder.once("exit", (code) => reject(new Error(`flock ${path} exited ${code} before taking the lock`)));
  });
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await exited;
  }
}
