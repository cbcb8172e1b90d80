import { describe, expect, it } from "vitest";
import { eventLine, renderLine, tidy } from "../../../src/demo/format.js";

const at = new Date(2026, 0, 2, 9, 5, 7).getTime();

describe("demo event lines", () => {
  it("reads as time, host, what happened", () => {
    const l = eventLine({
      time: at,
      kind: "action",
      deployment: "fediversity",
      host: "mastodon",
      action: "restart",
      reason: "mastodon-web.service failing",
      outcome: "added",
      actor: "controller",
    });
    expect(l && renderLine(l, false)).toBe(
      "09:05:07  mastodon    DECIDED     restart — mastodon-web.service failing → queued",
    );
  });

  it("says a restart that worked but is not yet judged healthy is being verified", () => {
    const l = eventLine({
      time: at,
      kind: "outcome",
      host: "garage",
      action: "restart",
      outcome: "success",
      reason: "restarted garage.service (after: failing)",
    });
    expect(l?.text).toBe("restart success: restarted garage.service (verifying: not healthy yet)");
  });

  it("drops store hashes and turns ISO times into clock times", () => {
    const hash = "98dmm58rdrz9iihgkh2s4w8ggmnjwgxn";
    expect(tidy(`running /nix/store/${hash}-nixos-system-pixelfed-25.05`)).toBe(
      "running nixos-system-pixelfed-25.05",
    );
    expect(tidy(`settling until ${new Date(at).toISOString()}`)).toBe("settling until 09:05:07");
  });

  it("colours by tone only when asked, and hides leader/config events", () => {
    const l = eventLine({
      time: at,
      kind: "recover",
      host: "peertube",
      reason: "healthy again (was failing)",
    });
    expect(l && renderLine(l, true)).toContain("\x1b[32mHEALTHY");
    expect(eventLine({ time: at, kind: "leader", reason: "leader x" })).toBeUndefined();
  });
});
