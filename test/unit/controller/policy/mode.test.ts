import { describe, expect, it } from "vitest";
import type { Action } from "../../../../src/action.js";
import { modeGate } from "../../../../src/controller/policy/mode.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";

const action: Action = { kind: "restart", deployment: "fedi", host: "a", units: ["a.service"] };

describe("mode gate", () => {
  it("enforce allows", () => {
    expect(modeGate({ mode: "enforce", action, origin: AUTOMATIC }, 0)).toEqual({ allowed: true });
  });

  it("dry-run and observe block and say what would have run", () => {
    for (const mode of ["dry-run", "observe"] as const) {
      const g = modeGate({ mode, action, origin: AUTOMATIC }, 0);
      expect(g).toMatchObject({ allowed: false, reason: "mode" });
      expect(!g.allowed && g.detail).toBe(`${mode}: would restart a.service on fedi/a`);
    }
  });

  it("a manual action passes dry-run only when forced", () => {
    expect(modeGate({ mode: "dry-run", action, origin: { manual: true, force: false } }, 0).allowed).toBe(
      false,
    );
    expect(modeGate({ mode: "dry-run", action, origin: { manual: true, force: true } }, 0).allowed).toBe(
      true,
    );
  });
});
