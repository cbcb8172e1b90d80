// A worker in its own process, for the SIGKILL test. argv: REDIS_URL PREFIX FLAKE_DIR.
// Prints "ready" once it takes jobs and one "outcome <json>" line per finished action;
// on SIGTERM it closes (grace 1 s) and exits 0, as `nixguard serve` does.

import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";
import { startWorker } from "../../../src/queue/worker.js";
import { FAKE_NIXOPS4 } from "../../helpers/fake-nixops4.js";
import { desired, RecordingTransport } from "./harness.js";

const [url, prefix, flake] = process.argv.slice(2) as [string, string, string];
const transports = new TransportRegistry((h) => new RecordingTransport(h));
const worker = await startWorker({
  connection: url,
  prefix,
  concurrency: 1,
  logger: silentLogger(),
  metrics: createMetrics({ version: "test", processMetrics: false }),
  getDesired: () => desired([{ name: "fedi", flake }]),
  borrow: (h) => transports.borrow(h),
  nixops4: {
    command: FAKE_NIXOPS4,
    timeout: 60_000,
    interruptGrace: 500,
    killGrace: 500,
    stragglerGrace: 200,
    extraArgs: [],
  },
  lockTtlMs: 1_500,
  logLimitBytes: 64 * 1024,
  restartTimeoutMs: () => 20_000,
  onOutcome: (o) => {
    process.stdout.write(`outcome ${JSON.stringify(o)}\n`);
  },
  bull: { lockDuration: 1_500, stalledInterval: 500, maxStalledCount: 1 },
  flakeLockWaitMs: 200,
  flakeLockRetryMs: 300,
});
process.on("SIGTERM", () => {
  void worker.close(1_000).then(() => process.exit(0));
});
process.stdout.write("ready\n");
