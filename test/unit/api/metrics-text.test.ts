import { expect, test } from "vitest";
import { renderMetrics } from "../../../src/api/metrics-text.js";
import { createMetrics, forgetHost } from "../../../src/metrics.js";

/** The fast renderer must print exactly what prom-client prints, across updates and removals. */
test("renderMetrics equals registry.metrics() byte for byte, before and after changes", async () => {
  const m = createMetrics({ version: 'v"1\\2', processMetrics: false });
  m.hostUp.set({ deployment: "fedi", host: "garage" }, 1);
  m.checkUp.set({ deployment: "fedi", host: "garage", check: 'odd"label\\with\nnewline' }, 0);
  m.tlsExpiry.set({ deployment: "fedi", host: "garage", check: "http:x" }, 1_900_000_000.5);
  m.deployDuration.observe({ deployment: "fedi", outcome: "success" }, 42);
  m.actionsTotal.inc({ deployment: "fedi", action: "restart", outcome: "success" }, 3);
  m.reconcileDuration.observe(7);
  m.tlsExpiry.set({ deployment: "other", host: "h", check: "inf" }, Number.POSITIVE_INFINITY);
  m.nodeLoad1.set(Number.NaN);
  expect(await renderMetrics(m.registry)).toBe(await m.registry.metrics());

  m.hostUp.set({ deployment: "fedi", host: "garage" }, 0);
  m.hostUp.set({ deployment: "fedi", host: "web" }, 1);
  forgetHost(m, "fedi", "garage", ['odd"label\\with\nnewline', "http:x"]);
  const after = await renderMetrics(m.registry);
  expect(after).toBe(await m.registry.metrics());
  expect(after).toContain('nixguard_host_up{deployment="fedi",host="web"} 1');
  expect(after).not.toContain('host="garage"');
  expect(after).not.toContain("http:x");
});

test("with process metrics on, every family and sample line matches prom-client's", async () => {
  const m = createMetrics({ version: "t" });
  const ours = (await renderMetrics(m.registry)).split("\n").filter((l) => l.startsWith("# TYPE"));
  const theirs = (await m.registry.metrics()).split("\n").filter((l) => l.startsWith("# TYPE"));
  expect(ours).toEqual(theirs);
});
