import { describe, expect, it } from "vitest";
import { Scheduler } from "../../../src/controller/schedule.js";
import { silentLogger } from "../../../src/log.js";

describe("schedules", () => {
  it("fires node-cron tasks for each deployment and stop() cancels them", async () => {
    const fired: string[] = [];
    const s = new Scheduler({
      schedule: () => [{ cron: "* * * * * *", action: "redeploy", deployments: ["fedi", "other"] }],
      trigger: async (d) => {
        fired.push(d);
        if (d === "other") throw new Error("gate said no"); // logged, does not stop the task
      },
      logger: silentLogger(),
    });
    s.start();
    expect(s.size).toBe(1);
    const deadline = Date.now() + 3_500;
    while (fired.filter((d) => d === "fedi").length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(fired.filter((d) => d === "fedi").length).toBeGreaterThanOrEqual(2);
    expect(fired).toContain("other");
    await s.stop();
    expect(s.size).toBe(0);
    const count = fired.length;
    await new Promise((r) => setTimeout(r, 1_300));
    expect(fired.length).toBe(count);
  });
});
