import { expect, test } from "vitest";
import { createMetrics, forgetDeploymentSeries, initDeploymentSeries } from "../../../src/metrics.js";

test("outcome series exist at 0 from start, so the first failed apply is an increase (issue 19)", async () => {
  const m = createMetrics({ version: "t", processMetrics: false });
  initDeploymentSeries(m, ["fedi"]);
  const text = await m.registry.metrics();
  expect(text).toContain('nixguard_deploy_duration_seconds_count{deployment="fedi",outcome="failed"} 0');
  expect(text).toContain('nixguard_deploy_duration_seconds_count{deployment="fedi",outcome="success"} 0');
  expect(text).toContain('nixguard_actions_total{deployment="fedi",action="restart",outcome="failed"} 0');
  expect(text).toContain('nixguard_actions_total{deployment="fedi",action="rollback",outcome="failed"} 0');
  expect(text).toContain('nixguard_reconcile_duration_seconds_count{deployment="fedi"} 0');
  // Probe series carry the deployment too, so the dashboard's $deployment filters the probe panels.
  expect(text).toContain('nixguard_probes_total{deployment="fedi",kind="http",result="timeout"} 0');
  expect(text).toContain('nixguard_probe_duration_seconds_count{deployment="fedi",kind="systemd"} 0');
  // Idempotent: a reload keeps what was counted.
  m.actionsTotal.inc({ deployment: "fedi", action: "redeploy", outcome: "failed" });
  initDeploymentSeries(m, ["fedi"]);
  expect(await m.registry.metrics()).toContain(
    'nixguard_actions_total{deployment="fedi",action="redeploy",outcome="failed"} 1',
  );
  forgetDeploymentSeries(m, "fedi");
  expect(await m.registry.metrics()).not.toContain('deployment="fedi"');
});
