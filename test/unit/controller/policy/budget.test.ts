import { describe, expect, it } from "vitest";
import { budgetGate, budgetUsage } from "../../../../src/controller/policy/budget.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";

const H = 3_600_000;

describe("budgets", () => {
  it("counts a sliding window and says when a slot frees", () => {
    const b = { times: [0, 10, 20_000, -5 * H], max: 3, window: H };
    expect(budgetUsage(b, 30_000)).toEqual({ used: 3, freesAt: H });
    expect(budgetUsage(b, H)).toEqual({ used: 2 });
  });

  it("the deployment budget blocks first, then the global one", () => {
    const free = { times: [], max: 10, window: H };
    const spent = { times: [1, 2, 3], max: 3, window: H };
    const d = budgetGate({ deployment: "fedi", perDeployment: spent, global: free, origin: AUTOMATIC }, 100);
    expect(d).toMatchObject({ allowed: false, reason: "budget", until: 1 + H });
    expect(!d.allowed && d.detail).toBe("deployment fedi budget spent: 3 of 3 per 1h");
    const g = budgetGate({ deployment: "fedi", perDeployment: free, global: spent, origin: AUTOMATIC }, 100);
    expect(!g.allowed && g.detail).toContain("global budget spent");
    expect(
      budgetGate({ deployment: "fedi", perDeployment: spent, global: free, origin: AUTOMATIC }, 2 + H)
        .allowed,
    ).toBe(true);
  });

  it("max 0 forbids all automatic actions; manual ones skip budgets", () => {
    const none = { times: [], max: 0, window: H };
    expect(
      budgetGate({ deployment: "fedi", perDeployment: none, global: none, origin: AUTOMATIC }, 0).allowed,
    ).toBe(false);
    const manual = { manual: true, force: false };
    expect(
      budgetGate({ deployment: "fedi", perDeployment: none, global: none, origin: manual }, 0).allowed,
    ).toBe(true);
  });
});
