import type { PauseScope } from "../controller/policy/index.js";
import type { NixGuardEvent } from "../controller/types.js";
import type { SimControlClient } from "../sim/control-client.js";
import type { Tone } from "./format.js";
import type { Scenario } from "./scenarios.js";

/**
 * Drives the demo's scenarios one after another against the simulator: inject a fault, wait
 * for the event that ends its story (or a timeout), let the operator clear a quarantine or the
 * panel deploy a fix, then wait out the rest of the interval and go on with the next one, round
 * and round until stopped.
 */
export interface RotationDeps {
  scenarios: Scenario[];
  control: Pick<SimControlClient, "inject" | "heal" | "healAll" | "bumpGeneration">;
  /** The panel applies the deployment (nixops4 apply of its target, through NixGuard). */
  deploy: (actor: string) => Promise<void>;
  /** The host's running generation is known-good (there is one to roll back to). */
  knownGood: (host: string) => Promise<boolean>;
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
    if (s.panel && !(await this.poll(() => deps.knownGood(s.host)))) {
      if (!this.stopping.signal.aborted)
        deps.say(s.host, "TIMEOUT", "its generation did not become known-good; moving on", "note");
      return;
    }
    const ended = this.waitFor(s.endsWith);
    const fault = await deps.control.inject(s.fault);
    deps.say(s.host, "FAULT", s.injected, "bad");
    if (s.panel) {
      deps.say(deps.deployment, "PANEL", "deploys the new commit", "note");
      await deps.deploy("panel");
    }
    if (!(await ended)) {
      if (!this.stopping.signal.aborted) {
        deps.say(s.host, "TIMEOUT", `no end after ${deps.timeoutMs / 1000} s; healing and moving on`, "note");
        await deps.control.healAll();
      }
      return;
    }
    if (s.panel) return this.panelFixes(s, fault.id);
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

  /** A held host: shown held a while, then the panel commits a fix and deploys it; the hold ends. */
  private async panelFixes(s: Scenario, faultId: string): Promise<void> {
    const { deps } = this;
    if (!s.panel) return;
    deps.say(
      s.host,
      "WATCH",
      `held ${s.panel.heldMs / 1000} s: healthy on the known-good generation, the broken one not redeployed`,
      "note",
    );
    await this.sleep(s.panel.heldMs);
    if (this.stopping.signal.aborted) return;
    const fixed = this.waitFor(s.panel.fixedWhen);
    await deps.control.bumpGeneration(s.host);
    deps.say(deps.deployment, "PANEL", `commits a fix for ${s.host} and deploys it`, "note");
    await deps.deploy("panel");
    if (!(await fixed)) {
      if (!this.stopping.signal.aborted) {
        deps.say(s.host, "TIMEOUT", `the fix did not end the hold after ${deps.timeoutMs / 1000} s`, "note");
        await deps.control.healAll();
      }
      return;
    }
    // The broken generation stays broken, but no deploy brings it again: the fault can go.
    await deps.control.heal(faultId);
  }

  /** Polls `check` about every second until true; false at timeout or stop. */
  private async poll(check: () => Promise<boolean>): Promise<boolean> {
    const end = Date.now() + this.deps.timeoutMs;
    while (!this.stopping.signal.aborted && Date.now() < end) {
      if (await check()) return true;
      await this.sleep(1_000);
    }
    return false;
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
