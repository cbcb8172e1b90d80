import { describe, expect, it } from "vitest";
import { DEFAULT_HEAP_GROWTH_PERCENT, parseHeapGrowth } from "../../../src/runtime/heap.js";

describe("--heap-growth", () => {
  it("takes a whole percentage, 0 meaning V8's own heuristics", () => {
    expect(parseHeapGrowth("0")).toBe(0);
    expect(parseHeapGrowth("100")).toBe(100);
    expect(parseHeapGrowth("1000")).toBe(1000);
    expect(DEFAULT_HEAP_GROWTH_PERCENT).toBeGreaterThan(0);
  });

  it.each(["", "-5", "1.5", "1e3", "1001", "50%", "0x10", " 100"])("refuses %j, naming the flag", (v) => {
    expect(() => parseHeapGrowth(v)).toThrow(/--heap-growth takes a whole percentage 0\.\.1000/);
  });
});
