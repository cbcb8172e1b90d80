/**
 * What the probe path reads of a cancellation: the part of AbortSignal it uses, so a real
 * AbortSignal (the queue worker's, a test's) and a Cancel both fit.
 */
export interface Abortable {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * A cancellation cheap enough to make per probe and per HTTP check. Node's AbortController builds
 * an EventTarget for its signal (a listener map, a Listener record per add), and each probe made
 * four of them and seven listener pairs: at 10,000 hosts that was ~5 % of the daemon's CPU and a
 * steady source of garbage (bench/scale.ts). Listeners run once, in the order added, on the first
 * abort; later aborts are ignored, as AbortController does.
 */
export class Cancel implements Abortable {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const fn of listeners) fn();
  }

  /** Added once: every listener here is a once-listener (the option is accepted for AbortSignal's shape). */
  addEventListener(_type: "abort", listener: () => void): void {
    if (this.aborted) return;
    if (this.listeners) this.listeners.push(listener);
    else this.listeners = [listener];
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.listeners;
    if (!listeners) return;
    const i = listeners.lastIndexOf(listener);
    if (i !== -1) listeners.splice(i, 1);
  }

  /** A Cancel aborted (with the same reason) whenever this one is. */
  child(): Cancel {
    const c = new Cancel();
    if (this.aborted) c.abort(this.reason);
    else this.addEventListener("abort", () => c.abort(this.reason));
    return c;
  }
}
