import { createVethNamespace, deleteVethNamespace, ip } from "../veth.js";
import { containerLink, rootLink, slotAddresses } from "./names.js";

export { ip };

/** One host's link: network namespace `netns` joined to the root namespace by a veth pair. */
export interface HostNetwork {
  netns: string;
  netnsPath: string;
  rootLink: string;
  rootAddress: string;
  address: string;
}

export function createNetwork(netns: string, slot: number): HostNetwork {
  const { root, container } = slotAddresses(slot);
  createVethNamespace({
    netns,
    rootLink: rootLink(slot),
    nsLink: containerLink(slot),
    rootAddress: root,
    nsAddress: container,
  });
  return {
    netns,
    netnsPath: `/run/netns/${netns}`,
    rootLink: rootLink(slot),
    rootAddress: root,
    address: container,
  };
}

export const destroyNetwork = deleteVethNamespace;

export const netnsNames = () =>
  ip("netns", "list")
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);

export const linkNames = () =>
  ip("-o", "link", "show")
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? "")
    .filter(Boolean);
