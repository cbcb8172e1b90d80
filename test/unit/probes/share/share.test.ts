import { describe, expect, it } from "vitest";
import { ownerOf } from "../../../../src/probes/share/rendezvous.js";
import { liveMembers, probeScope, ShareTracker } from "../../../../src/probes/share/share.js";
import { sharingTimings } from "../../../../src/probes/share/timing.js";

const keys = Array.from({ length: 200 }, (_, i) => `d/h${i}`);

describe("membership", () => {
  it("a member is alive while its last heartbeat is within deadAfter (Redis' clock)", () => {
    const members = [
      { id: "b", heartbeatAt: 10_000 },
      { id: "a", heartbeatAt: 9_500 },
      { id: "c", heartbeatAt: 9_000 },
    ];
    expect(liveMembers(members, 10_000, 500)).toEqual(["a", "b"]);
    expect(liveMembers(members, 10_000, 1_000)).toEqual(["a", "b", "c"]);
    expect(liveMembers(members, 20_000, 1_000)).toEqual([]);
  });

  it("alone: the leader probes everything, a process that does not lead nothing (as before sharing)", () => {
    expect(probeScope({ leading: true, viewFresh: true, peers: 0 })).toBe("all");
    expect(probeScope({ leading: false, viewFresh: true, peers: 0 })).toBe("none");
    expect(probeScope({ leading: true, viewFresh: true, peers: 2 })).toBe("share");
    expect(probeScope({ leading: false, viewFresh: true, peers: 1 })).toBe("share");
    // Its heartbeat not reaching Redis: the others count it dead and probe its hosts.
    expect(probeScope({ leading: false, viewFresh: false, peers: 2 })).toBe("none");
    expect(probeScope({ leading: true, viewFresh: false, peers: 2 })).toBe("all");
  });

  it("timings default from the interval: heartbeat a sixth, dead after a third", () => {
    expect(sharingTimings({ interval: 30_000, sharing: { streamLength: 1 } })).toEqual({
      heartbeatMs: 5_000,
      deadAfterMs: 10_000,
    });
    expect(
      sharingTimings({ interval: 30_000, sharing: { heartbeat: 1_000, deadAfter: 5_000, streamLength: 1 } }),
    ).toEqual({ heartbeatMs: 1_000, deadAfterMs: 5_000 });
  });
});

describe("ShareTracker", () => {
  it("alone it owns every host; with peers its rendezvous share", () => {
    const t = new ShareTracker("a", 1_000);
    expect(t.update(keys, ["a"], 0).size).toBe(keys.length);
    const t2 = new ShareTracker("a", 1_000);
    const mine = t2.update(keys, ["a", "b"], 0);
    expect([...mine].sort()).toEqual(keys.filter((k) => ownerOf(k, ["a", "b"]) === "a").sort());
  });

  it("a host handed to a newcomer is still probed for the grace, then dropped; a host gained is probed at once", () => {
    const t = new ShareTracker("a", 1_000);
    t.update(keys, ["a"], 0);
    const shared = t.update(keys, ["a", "b"], 100);
    // Within the grace: still every host (the newcomer may not probe its share yet).
    expect(shared.size).toBe(keys.length);
    expect(t.releasingCount).toBeGreaterThan(0);
    const after = t.update(keys, ["a", "b"], 1_200);
    expect([...after].sort()).toEqual(keys.filter((k) => ownerOf(k, ["a", "b"]) === "a").sort());
    expect(t.releasingCount).toBe(0);
    // b dies: a takes every host back at once.
    expect(t.update(keys, ["a"], 1_300).size).toBe(keys.length);
  });

  it("the other member's view: gains at once what the dead one held, keeps nothing it never had", () => {
    const b = new ShareTracker("b", 1_000);
    const three = b.update(keys, ["a", "b", "c"], 0);
    const two = b.update(keys, ["b", "c"], 10);
    for (const k of three) expect(two.has(k)).toBe(true);
    for (const k of keys)
      if (ownerOf(k, ["a", "b", "c"]) === "a" && ownerOf(k, ["b", "c"]) === "b")
        expect(two.has(k)).toBe(true);
    expect([...two].every((k) => ownerOf(k, ["b", "c"]) === "b")).toBe(true);
  });

  it("no live member (it cannot tell who is alive): nothing, and nothing kept for later", () => {
    const t = new ShareTracker("a", 1_000);
    t.update(keys, ["a"], 0);
    expect(t.update(keys, [], 1).size).toBe(0);
    expect(t.releasingCount).toBe(0);
  });

  it("hosts removed from the config are dropped at once, grace or not", () => {
    const t = new ShareTracker("a", 1_000);
    t.update(keys, ["a"], 0);
    t.update(keys, ["a", "b"], 1);
    const fewer = keys.slice(0, 50);
    const now = t.update(fewer, ["a", "b"], 2);
    expect([...now].every((k) => fewer.includes(k))).toBe(true);
  });
});
