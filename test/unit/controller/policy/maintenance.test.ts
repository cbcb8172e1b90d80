import { describe, expect, it } from "vitest";
import { activeWindow, lastStart, maintenanceGate } from "../../../../src/controller/policy/maintenance.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";

const H = 3_600_000;
const sunday2am = Date.UTC(2025, 5, 1, 2, 0, 0); // 2025-06-01 is a Sunday
const windows = [{ cron: "0 2 * * 0", duration: 2 * H }];
const tz = "UTC";

describe("maintenance windows", () => {
  it("finds the latest start of a cron expression, counting a start exactly now", () => {
    expect(lastStart("0 2 * * 0", sunday2am, tz)).toBe(sunday2am);
    expect(lastStart("0 2 * * 0", sunday2am - 1, tz)).toBe(sunday2am - 7 * 24 * H);
    expect(lastStart("*/10 * * * * *", sunday2am + 15_500, tz)).toBe(sunday2am + 10_000);
  });

  it("blocks inside [start, start + duration) and reports the end", () => {
    const input = { deployment: "fedi", windows, origin: AUTOMATIC, timezone: tz };
    expect(maintenanceGate(input, sunday2am - 1).allowed).toBe(true);
    expect(maintenanceGate(input, sunday2am)).toMatchObject({
      allowed: false,
      reason: "maintenance",
      until: sunday2am + 2 * H,
    });
    expect(maintenanceGate(input, sunday2am + 2 * H - 1).allowed).toBe(false);
    expect(maintenanceGate(input, sunday2am + 2 * H).allowed).toBe(true);
    expect(maintenanceGate(input, sunday2am + 24 * H).allowed).toBe(true);
  });

  it("a window longer than its period covers the gap, and the latest end wins", () => {
    const w = [
      { cron: "0 * * * *", duration: 2 * H },
      { cron: "30 * * * *", duration: 10 * 60_000 },
    ];
    const a = activeWindow({ deployment: "fedi", windows: w, timezone: tz }, sunday2am + 35 * 60_000);
    expect(a?.end).toBe(sunday2am + 2 * H);
  });

  it("a window limited to other deployments does not apply", () => {
    const w = [{ cron: "0 2 * * 0", duration: 2 * H, deployments: ["other"] }];
    expect(
      maintenanceGate({ deployment: "fedi", windows: w, origin: AUTOMATIC, timezone: tz }, sunday2am).allowed,
    ).toBe(true);
  });

  it("manual actions pass only with force", () => {
    const input = { deployment: "fedi", windows, timezone: tz };
    expect(maintenanceGate({ ...input, origin: { manual: true, force: false } }, sunday2am).allowed).toBe(
      false,
    );
    expect(maintenanceGate({ ...input, origin: { manual: true, force: true } }, sunday2am).allowed).toBe(
      true,
    );
  });
});
