import { describe, expect, it } from "vitest";
import { Cancel } from "../../../src/probes/cancel.js";

describe("Cancel", () => {
  it("runs each listener once, in order, with the first reason; later aborts change nothing", () => {
    const c = new Cancel();
    const seen: string[] = [];
    c.addEventListener("abort", () => seen.push(`a:${String(c.reason)}`));
    c.addEventListener("abort", () => seen.push(`b:${String(c.reason)}`));
    expect(c.aborted).toBe(false);
    c.abort("first");
    c.abort("second");
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe("first");
    expect(seen).toEqual(["a:first", "b:first"]);
  });

  it("forgets a removed listener and never calls one added after the abort", () => {
    const c = new Cancel();
    let removed = 0;
    let kept = 0;
    let late = 0;
    const gone = () => removed++;
    c.addEventListener("abort", gone);
    c.addEventListener("abort", () => kept++);
    c.removeEventListener("abort", gone);
    c.removeEventListener("abort", () => {}); // unknown: no effect
    c.abort(new Error("x"));
    c.addEventListener("abort", () => late++);
    expect([removed, kept, late]).toEqual([0, 1, 0]);
  });

  it("removes one registration of a listener added twice, as the last added", () => {
    const c = new Cancel();
    let n = 0;
    const fn = () => n++;
    c.addEventListener("abort", fn);
    c.addEventListener("abort", fn);
    c.removeEventListener("abort", fn);
    c.abort(1);
    expect(n).toBe(1);
  });

  it("a child is aborted with its parent's reason, not the other way round", () => {
    const parent = new Cancel();
    const child = parent.child();
    child.abort("child only");
    expect(parent.aborted).toBe(false);
    const second = parent.child();
    parent.abort("parent");
    expect(second.reason).toBe("parent");
    expect(child.reason).toBe("child only");
    const late = parent.child();
    expect(late.aborted).toBe(true);
    expect(late.reason).toBe("parent");
  });

  it("stands where an AbortSignal is read: runCommand kills its child on abort", async () => {
    const { runCommand } = await import("../../../src/probes/transports/run.js");
    const c = new Cancel();
    const started = performance.now();
    const run = runCommand("sleep", ["30"], { signal: c });
    setTimeout(() => c.abort(new Error("stop")), 50);
    await expect(run).rejects.toMatchObject({ code: "PROBE_TIMEOUT" });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
