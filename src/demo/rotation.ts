import type { PauseScope } from "../controller/policy/index.js";
import type { NixGuardEvent } from "../controller/types.js";
import type { SimControlClient } from "../sim/control-client.js";
import type { Tone } from "./format.js";
import type { Scenario } from "./scenarios.js";

/**
 * Drives the demo's scenarios one after another against the simulator: inject a fault, wait
 * for the event that ends its story (or a timeout), let the operator clear a quarantine, then
 * wait out the rest of the interval and go on with the next one, round and round until stopped.
 */
export interface RotationDeps {
  scenarios: Scenario[];
  control: Pick<SimControlClient, "inject" | "heal" | "healAll">;
  reset: (scope: PauseScope, actor: string) => Promise<{ cleared: string[] }>;
  subscribe: (listener: (e: NixGuardEvent) => void) => () => void;
  deployment: string;
  /** A new fault at most this often. */
  intervalMs: number;
  /** A scenario that has not ended by then is healed and skipped. */
  timeoutMs: number;
  say: (host: string, tag: string, text: string, tone: Tone) => void;
  heading: (text: string) => void;
}

export class Rotation {
  private readonly stopping = new AbortController();
  private done: Promise<void> | undefined;

  constructor(private readonly deps: RotationDeps) {}

  start(): void {
    this.done ??= this.run().catch((err) => {
      if (!this.stopping.signal.aborted) this.deps.say("demo", "ERROR", `rotation stopped: ${err}`, "bad");
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const { scenarios } = this.deps;
    for (let round = 0; !this.stopping.signal.aborted; round++) {
      const s = scenarios[round % scenarios.length] as Scenario;
      const started = Date.now();
      await this.step(s, (round % scenarios.length) + 1);
      await this.sleep(started + this.deps.intervalMs - Date.now());
    }
  }

  private async step(s: Scenario, n: number): Promise<void> {
    const { deps } = this;
    const actor = "demo";
    deps.heading(`── ${n}/${deps.scenarios.length}  ${s.title}`);
    deps.heading(`   watch for: ${s.expect}`);
    // Budgets refill over their window (an hour in production); the demo compresses that hour.
    await deps.reset({ kind: "deployment", deployment: deps.deployment }, actor);
    if (this.stopping.signal.aborted) return;
    const ended = this.waitFor(s.endsWith);
    const fault = await deps.control.inject(s.fault);
    deps.say(s.host, "FAULT", s.injected, "bad");
    if (!(await ended)) {
      if (!this.stopping.signal.aborted) {
        deps.say(s.host, "TIMEOUT", `no end after ${deps.timeoutMs / 1000} s; healing and moving on`, "note");
        await deps.control.healAll();
      }
      return;
    }
    if (!s.operatorClears) return;
    const recovered = this.waitFor((e) => e.kind === "recover" && e.host === s.host);
    deps.say(
      s.host,
      "OPERATOR",
      "fixes the cause by hand, waits for a healthy probe, clears the quarantine",
      "note",
    );
    await deps.control.heal(fault.id);
    await recovered;
    if (this.stopping.signal.aborted) return;
    await deps.reset({ kind: "host", deployment: deps.deployment, host: s.host }, actor);
  }

  /** Resolves true at the first matching event, false at timeout or stop. */
  private waitFor(match: (e: NixGuardEvent) => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        this.stopping.signal.removeEventListener("abort", onAbort);
        resolve(ok);
      };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), this.deps.timeoutMs);
      const unsubscribe = this.deps.subscribe((e) => {
        if (match(e)) finish(true);
      });
      this.stopping.signal.addEventListener("abort", onAbort);
      if (this.stopping.signal.aborted) finish(false);
    });
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopping.signal.addEventListener("abort", done);
    });
  }
}
