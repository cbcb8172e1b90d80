import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { execa } from "execa";
import { withFlock } from "./flock.js";

/**
 * The Debian root filesystem every real host boots (read-only: hosts run with --volatile=overlay).
 * Built once per machine with debootstrap into a temporary directory renamed into place, under a
 * lock so two workers never build it at once; a cached tree is reused. About 4 minutes, 220 MB.
 */
export const ROOTFS = process.env["NIXGUARD_REALHOST_ROOTFS"] ?? "/var/cache/nixguard/rootfs-bookworm";
const SUITE = "bookworm";
const PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,python3";
/** Building it takes minutes: the hooks that call ensureRootfs need a timeout this long. */
export const ROOTFS_BUILD_TIMEOUT_MS = 15 * 60_000;

export function rootfsReady(dir = ROOTFS): boolean {
  return existsSync(join(dir, "usr/sbin/sshd")) && existsSync(join(dir, "lib/systemd/systemd"));
}

/**
 * The Debian mirror apt already uses on this machine, read at run time (deb822 sources first, then
 * sources.list); the security archive has no base system, so it is passed over.
 */
export function aptMirror(): string | undefined {
  const uris: string[] = [];
  const d = "/etc/apt/sources.list.d";
  const files = existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".sources")) : [];
  for (const f of files.sort()) {
    for (const m of readFileSync(join(d, f), "utf8").matchAll(/^URIs:\s*(\S+)/gm)) uris.push(m[1] as string);
  }
  if (existsSync("/etc/apt/sources.list")) {
    for (const m of readFileSync("/etc/apt/sources.list", "utf8").matchAll(
      /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm,
    ))
      uris.push(m[1] as string);
  }
  return uris.find((u) => /^https?:\/\//.test(u) && !/security/.test(u));
}

/** The cached root filesystem, built first when missing. */
export async function ensureRootfs(dir = ROOTFS): Promise<string> {
  if (rootfsReady(dir)) return dir;
  const parent = dirname(dir);
  await withFlock(`${dir}.lock`, async () => {
    if (rootfsReady(dir)) return;
    // Under the lock no one else builds: temporary trees left here are a dead builder's.
    for (const entry of readdirSync(parent)) {
      if (entry.startsWith(`${basename(dir)}.tmp-`))
        rmSync(join(parent, entry), { recursive: true, force: true });
    }
    const mirror = aptMirror();
    if (!mirror) throw new Error("no Debian mirror found in /etc/apt/sources.list{,.d} to debootstrap from");
    const tmp = await mkdtemp(`${dir}.tmp-`);
    try {
      const r = await execa(
        "debootstrap",
        ["--variant=minbase", `--include=${PACKAGES}`, SUITE, tmp, mirror],
        {
          stdin: "ignore",
          all: true,
          reject: false,
        },
      );
      if (r.exitCode !== 0 || !rootfsReady(tmp)) {
        throw new Error(`debootstrap exited ${r.exitCode}: ${String(r.all).slice(-2000)}`);
      }
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  });
  return dir;
}
