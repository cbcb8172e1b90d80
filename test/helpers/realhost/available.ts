import { execFileSync } from "node:child_process";
import { aptMirror, ROOTFS, rootfsReady } from "./rootfs.js";

/**
 * Whether real hosts can boot here, and why not. In CI (.ci/run exports NIXGUARD_REALHOST=required)
 * a bed that cannot run is a failure; on a developer machine without root or nspawn the real-host
 * tests skip and say why.
 */
export const realhostRequired = () => process.env["NIXGUARD_REALHOST"] === "required";

const onPath = (command: string) => {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", command], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

let cached: { ok: boolean; reason: string } | undefined;

export function realhostStatus(): { ok: boolean; reason: string } {
  if (cached) return cached;
  const missing = ["systemd-nspawn", "ip", "flock", "ssh", "ssh-keygen"].filter((c) => !onPath(c));
  let reason = "";
  if (process.getuid?.() !== 0) reason = "needs root (network namespaces, systemd-nspawn)";
  else if (missing.length > 0)
    reason = `missing ${missing.join(", ")} (apt-get install systemd-container iproute2 openssh-client util-linux)`;
  else if (!rootfsReady(ROOTFS) && !onPath("debootstrap"))
    reason = `no root filesystem at ${ROOTFS} and no debootstrap to build it (apt-get install debootstrap)`;
  else if (!rootfsReady(ROOTFS) && !aptMirror())
    reason = "no Debian mirror in the apt sources to build the root filesystem from";
  cached = { ok: reason === "", reason };
  return cached;
}
