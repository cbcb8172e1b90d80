import { describe, expect, it } from "vitest";
import { assign, hash53, ownerOf } from "../../../../src/probes/share/rendezvous.js";

const hosts = Array.from({ length: 30_000 }, (_, i) => `sim-${Math.floor(i / 100)}/h${i}`);
const ids = (n: number) => Array.from({ length: n }, (_, i) => `member-${i}`);

function owners(members: string[]): Map<string, string | undefined> {
  return new Map(hosts.map((h) => [h, ownerOf(h, members)]));
}

describe("rendezvous hashing", () => {
  it("is deterministic and independent of the members' order", () => {
    const a = ["b", "a", "c"];
    for (const h of hosts.slice(0, 500)) expect(ownerOf(h, a)).toBe(ownerOf(h, [...a].sort()));
    expect(hash53("x")).toBe(hash53("x"));
    expect(hash53("x")).not.toBe(hash53("y"));
    expect(ownerOf("d/h", [])).toBeUndefined();
  });

  it("spreads 30,000 hosts over 3 members within 3 % of a third each", () => {
    const shares = assign(hosts, ids(3));
    for (const keys of shares.values())
      expect(Math.abs(keys.length / hosts.length - 1 / 3)).toBeLessThan(0.03);
    expect([...shares.values()].reduce((n, k) => n + k.length, 0)).toBe(hosts.length);
  });

  it("a member joining takes about 1/n of the hosts, and only from the others: nothing else moves", () => {
    const before = owners(ids(3));
    const after = owners(ids(4));
    let moved = 0;
    for (const [h, o] of after) {
      if (o === before.get(h)) continue;
      moved++;
      // Every host that moved went to the newcomer.
      expect(o).toBe("member-3");
    }
    expect(Math.abs(moved / hosts.length - 1 / 4)).toBeLessThan(0.03);
  });

  it("a member leaving hands over only its own hosts, spread over the rest", () => {
    const before = owners(ids(3));
    const left = ids(3).filter((m) => m !== "member-1");
    const after = owners(left);
    const took = new Map<string, number>();
    for (const [h, o] of after) {
      if (before.get(h) !== "member-1") expect(o).toBe(before.get(h));
      else took.set(o as string, (took.get(o as string) ?? 0) + 1);
    }
    const gone = [...before.values()].filter((o) => o === "member-1").length;
    // The leaver's hosts are split between the two that remain, about half each.
    for (const n of took.values()) expect(Math.abs(n / gone - 1 / 2)).toBeLessThan(0.05);
  });
});
