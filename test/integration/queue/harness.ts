import { randomBytes } from "node:crypto";
import type { ActionOutcome } from "../../../src/action.js";
import type { DesiredState, HostSpec } from "../../../src/config/desired.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics, type Metrics } from "../../../src/metrics.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";
import type { Transport } from "../../../src/probes/types.js";
import { BullActionQueue } from "../../../src/queue/producer.js";
import { type ActionWorker, type StartWorkerOptions, startWorker } from "../../../src/queue/worker.js";
import { FAKE_NIXOPS4 } from "../../helpers/fake-nixops4.js";

/** A fresh BullMQ prefix per test: tests never see each other's jobs. */
export const freshPrefix = () => `t${randomBytes(6).toString("hex")}`;

export function host(deployment: string, name: string, target = deployment): HostSpec {
  return {
    deployment,
    name,
    address: "127.0.0.1",
    target,
    ownTarget: target !== deployment,
    services: [],
    transport: { kind: "local" },
    units: [],
    http: [],
  };
}

export function desired(deps: { name: string; flake: string; hosts?: string[] }[]): DesiredState {
  return {
    deployments: deps.map((d) => ({
      name: d.name,
      flake: d.flake,
      target: d.name,
      hosts: (d.hosts ?? []).map((h) => host(d.name, h, `${d.name}.${h}`)),
    })),
  };
}

/** Records restarts; `fail` makes restart reject with the given error. */
export class RecordingTransport implements Transport {
  readonly kind = "local" as const;
  readonly canRestart = true;
  static calls: { host: string; units: readonly string[] }[] = [];
  static fail: Error | undefined;
  /** When set, restarts wait for it (a restart under way). */
  static gate: Promise<void> | undefined;
  constructor(private readonly host: HostSpec) {}
  async fetch(): Promise<never> {
    throw new Error("not used");
  }
  async restart(units: readonly string[]): Promise<void> {
    RecordingTransport.calls.push({ host: this.host.name, units });
    await RecordingTransport.gate;
    if (RecordingTransport.fail) throw RecordingTransport.fail;
  }
  async close(): Promise<void> {}
}

export interface Rig {
  prefix: string;
  queue: BullActionQueue;
  metrics: Metrics;
  outcomes: ActionOutcome[];
  workers: ActionWorker[];
  startWorker(extra?: Partial<StartWorkerOptions>): Promise<ActionWorker>;
  close(): Promise<void>;
}

export async function makeRig(url: string, state: () => DesiredState): Promise<Rig> {
  const prefix = freshPrefix();
  const logger = silentLogger();
  const metrics = createMetrics({ version: "test", processMetrics: false });
  const outcomes: ActionOutcome[] = [];
  const workers: ActionWorker[] = [];
  const transports = new TransportRegistry((h) => new RecordingTransport(h));
  const queue = new BullActionQueue({ connection: url, prefix, logger });
  return {
    prefix,
    queue,
    metrics,
    outcomes,
    workers,
    startWorker: async (extra = {}) => {
      const w = await startWorker({
        connection: url,
        prefix,
        concurrency: 2,
        logger,
        metrics,
        getDesired: state,
        borrow: (h) => transports.borrow(h),
        nixops4: {
          command: FAKE_NIXOPS4,
          timeout: 20_000,
          interruptGrace: 400,
          killGrace: 600,
          stragglerGrace: 200,
          extraArgs: ["--show-trace"],
        },
        lockTtlMs: 3_000,
        logLimitBytes: 64 * 1024,
        restartTimeoutMs: () => 20_000,
        onOutcome: (o) => {
          outcomes.push(o);
        },
        flakeLockWaitMs: 200,
        flakeLockRetryMs: 300,
        ...extra,
      });
      workers.push(w);
      return w;
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close(1_000)));
      await queue.queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    },
  };
}
