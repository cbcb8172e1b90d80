import { describe, expect, it } from "vitest";
import { selfReasons } from "../../../src/controller/health.js";

const t = { diskUsedFraction: 0.9, loadPerCpu: 4, memoryUsedFraction: 0.95 };
const res = (over: Partial<Parameters<typeof selfReasons>[0]> = {}) => ({
  load: [0.5, 0.5, 0.5] as [number, number, number],
  cpus: 2,
  memory: { usedFraction: 0.4 },
  filesystems: [
    { path: "/var/lib/nixguard", usedFraction: 0.3 },
    { path: "/nix/store", usedFraction: 0.5 },
  ],
  ...over,
});

describe("selfReasons (the NixGuard host's own warnings)", () => {
  it("is empty under every threshold", () => {
    expect(selfReasons(res(), t)).toEqual([]);
  });

  it("names a full /nix/store, memory pressure and load, each against its threshold", () => {
    const reasons = selfReasons(
      res({
        load: [20, 9, 1],
        memory: { usedFraction: 0.97 },
        filesystems: [{ path: "/nix/store", usedFraction: 0.93 }],
      }),
      t,
    );
    expect(reasons).toEqual([
      "filesystem of /nix/store 93% used (threshold 90%)",
      "memory 97% used (threshold 95%)",
      "load 9.00 on 2 CPUs (threshold 4 per CPU)",
    ]);
  });
});
