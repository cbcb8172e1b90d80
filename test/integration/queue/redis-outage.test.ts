import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig, type Rig } from "./harness.js";

let redis: TestRedis;
let rig: Rig;
let flake: FakeFlake;
beforeAll(async () => {
  redis = await startRedis();
  flake = makeFakeFlake("outage");
  flake.control({ mode: "success" });
  rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: flake.dir }]));
});
afterAll(async () => {
  await rig.close();
  await redis.stop();
  flake.cleanup();
});

const redeploy = {
  action: { kind: "redeploy" as const, deployment: "fedi", target: "fedi" },
  actor: "t",
  reason: "t",
};

describe("Redis outage", () => {
  it("producers fail fast while Redis is down; producer and worker recover without restart, and AOF kept the job", async () => {
    await rig.queue.enqueue(redeploy); // waits: no worker yet
    await redis.kill();
    const t0 = Date.now();
    await expect(rig.queue.enqueue(redeploy)).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2_000);
    await redis.start();
    await rig.startWorker();
    expect(await waitFor(() => rig.outcomes.length === 1, 15_000)).toBe(true);
    expect(rig.outcomes[0]!.outcome).toBe("success");
    expect(
      await waitFor(
        async () => (await rig.queue.enqueue(redeploy).catch(() => undefined)) !== undefined,
        10_000,
      ),
    ).toBe(true);
  });
});
