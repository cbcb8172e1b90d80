import { execFileSync } from "node:child_process";

/**
 * A network namespace joined to the root namespace by a veth pair, each end with its /30 address:
 * the link under test/helpers/fault-netns.ts and the real-host bed (test/helpers/realhost). Root
 * only (CAP_NET_ADMIN).
 */
export interface VethSpec {
  netns: string;
  rootLink: string;
  nsLink: string;
  rootAddress: string;
  nsAddress: string;
}

export const ip = (...args: string[]) =>
  execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Creates namespace and link; on failure removes what it made and rethrows. */
export function createVethNamespace(s: VethSpec): void {
  ip("netns", "add", s.netns);
  try {
    ip("link", "add", s.rootLink, "type", "veth", "peer", "name", s.nsLink);
    ip("link", "set", s.nsLink, "netns", s.netns);
    ip("addr", "add", `${s.rootAddress}/30`, "dev", s.rootLink);
    ip("link", "set", s.rootLink, "up");
    ip("-n", s.netns, "addr", "add", `${s.nsAddress}/30`, "dev", s.nsLink);
    ip("-n", s.netns, "link", "set", s.nsLink, "up");
    ip("-n", s.netns, "link", "set", "lo", "up");
  } catch (e) {
    deleteVethNamespace(s.netns, s.rootLink);
    throw e;
  }
}

/** Synchronous (exit handlers call it); what is gone already is skipped. */
export function deleteVethNamespace(netns: string, rootLink: string): void {
  try {
    ip("netns", "del", netns);
  } catch {}
  try {
    ip("link", "del", rootLink);
  } catch {}
}
