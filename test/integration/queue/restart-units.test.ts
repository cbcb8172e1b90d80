/**
 * A restart job carries the union of the units asked for (issue 18, item 4). The job key names
 * the host, not the units: a second request for another unit coalesced into the waiting job that
 * listed only the first unit, and while a job ran each follow-up request overwrote the previous
 * one — silently dropped restarts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig, RecordingTransport, type Rig } from "./harness.js";

let redis: TestRedis;
let rig: Rig | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  RecordingTransport.gate = undefined;
  RecordingTransport.calls = [];
  await rig?.close();
  rig = undefined;
});

const restart = (unit: string) => ({
  action: { kind: "restart" as const, deployment: "fedi", host: "web", units: [unit] },
  actor: "ops",
  reason: `restart ${unit}`,
});

describe("restart jobs carry every unit asked for", () => {
  it("a request for another unit while the job waits joins it; the answer names both", async () => {
    RecordingTransport.calls = [];
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: "/srv/fedi", hosts: ["web"] }]));
    const a = await rig.queue.enqueue(restart("a.service"));
    const b = await rig.queue.enqueue(restart("b.service"));
    expect(a).toMatchObject({ state: "added", units: ["a.service"] });
    expect(b).toMatchObject({ state: "coalesced", jobId: a.jobId, units: ["a.service", "b.service"] });
    await rig.startWorker();
    expect(await waitFor(() => rig!.outcomes.length === 1, 10_000)).toBe(true);
    expect(RecordingTransport.calls).toEqual([{ host: "web", units: ["a.service", "b.service"] }]);
    expect(rig.outcomes[0]).toMatchObject({
      outcome: "success",
      message: "restarted a.service, b.service",
      action: { units: ["a.service", "b.service"] },
    });
  });

  it("requests while the job runs are all taken by its one follow-up, none overwritten", async () => {
    RecordingTransport.calls = [];
    let release!: () => void;
    RecordingTransport.gate = new Promise((r) => {
      release = r;
    });
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: "/srv/fedi", hosts: ["web"] }]));
    await rig.startWorker();
    await rig.queue.enqueue(restart("a.service"));
    expect(await waitFor(() => RecordingTransport.calls.length === 1, 10_000)).toBe(true);
    const b = await rig.queue.enqueue(restart("b.service"));
    const c = await rig.queue.enqueue(restart("c.service"));
    expect(b).toMatchObject({ state: "rerun-scheduled", units: ["b.service"] });
    expect(c).toMatchObject({ state: "rerun-scheduled", units: ["b.service", "c.service"] });
    release();
    expect(await waitFor(() => rig!.outcomes.length === 2, 10_000)).toBe(true);
    expect(RecordingTransport.calls.map((x) => x.units)).toEqual([["a.service"], ["b.service", "c.service"]]);
  });
});
