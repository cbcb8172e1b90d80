import { expect, test } from "vitest";
import { metricsChunks, renderMetrics } from "../../../src/api/metrics-text.js";
import { CHUNK_CHARS } from "../../../src/computed-gauge.js";
import { createMetrics, forgetHost } from "../../../src/metrics.js";
import { type SeriesRows, seriesOf } from "../../helpers/series.js";

/** The fast renderer must print exactly what prom-client prints, across updates and removals. */
test("renderMetrics equals registry.metrics() byte for byte, before and after changes", async () => {
  const m = createMetrics({ version: 'v"1\\2', processMetrics: false });
  // The computed per-host gauges read these rows at each scrape, as they read the health book.
  let hostRows: SeriesRows = [[["fedi", "garage"], 1]];
  let checkRows: SeriesRows = [[["fedi", "garage", 'odd"label\\with\nnewline'], 0]];
  let tlsRows: SeriesRows = [
    [["fedi", "garage", "http:x"], 1_900_000_000.5],
    [["other", "h", "inf"], Number.POSITIVE_INFINITY],
  ];
  m.hostUp.from(() => seriesOf(hostRows)());
  m.checkUp.from(() => seriesOf(checkRows)());
  m.tlsExpiry.from(() => seriesOf(tlsRows)());
  m.deployDuration.observe({ deployment: "fedi", outcome: "success" }, 42);
  m.actionsTotal.inc({ deployment: "fedi", action: "restart", outcome: "success" }, 3);
  m.reconcileDuration.observe({ deployment: "other" }, 7);
  m.quarantined.set({ deployment: "fedi", host: "garage" }, 1);
  m.nodeLoad1.set(Number.NaN);
  const before = await renderMetrics(m.registry);
  expect(before).toBe(await m.registry.metrics());
  expect(before).toContain(
    'nixguard_check_up{deployment="fedi",host="garage",check="odd\\"label\\\\with\\nnewline"} 0',
  );
  expect(before).toContain(
    'nixguard_http_tls_expiry_timestamp_seconds{deployment="other",host="h",check="inf"} +Inf',
  );

  hostRows = [
    [["fedi", "garage"], 0],
    [["fedi", "web"], 1],
  ];
  hostRows = hostRows.filter(([l]) => l[1] !== "garage");
  checkRows = [];
  tlsRows = [];
  forgetHost(m, "fedi", "garage");
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

test("a large page comes in chunks below V8's large-object size that together are the page", async () => {
  const m = createMetrics({ version: "t", processMetrics: false });
  const rows: SeriesRows = [];
  for (let h = 0; h < 3000; h++) {
    rows.push([["fedi", `host-${h}`], 1]);
    m.quarantined.set({ deployment: "fedi", host: `host-${h}` }, 0);
  }
  const checks: SeriesRows = rows.flatMap(([l]) =>
    [0, 1, 2].map((c): SeriesRows[number] => [[...l, `c${c}`], 1]),
  );
  m.hostUp.from(seriesOf(rows));
  m.checkUp.from(seriesOf(checks));
  const chunks = [...(await metricsChunks(m.registry))];
  expect(chunks.length).toBeGreaterThan(10);
  // Strings up to 128 KB are ordinary young-generation objects; one-byte text here.
  for (const c of chunks) expect(c.length).toBeLessThan(2 * CHUNK_CHARS + 1024);
  expect(chunks.join("")).toBe(await m.registry.metrics());
});
