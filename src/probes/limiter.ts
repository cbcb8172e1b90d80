import { NixGuardError } from "../errors.js";

/** A FIFO counting semaphore: at most `limit` probes at once across all hosts. */
export class Limiter {
  private active = 0;
  private readonly waiters: { resolve: () => void; reject: (e: unknown) => void; signal: AbortSignal }[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new NixGuardError("USAGE", `concurrency must be ≥ 1, got ${limit}`);
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const release = () => {
      this.active -= 1;
      this.next();
    };
    if (this.active < this.limit) {
      this.active += 1;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        signal,
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve(once(release));
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private next(): void {
    const w = this.waiters.shift();
    if (!w) return;
    this.active += 1;
    w.resolve();
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
