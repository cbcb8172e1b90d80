import { connect, type Socket } from "node:net";

/**
 * An open-loop load generator: request i is sent at start + i / rate whatever the answers do,
 * over `connections` keep-alive sockets, one request in flight on each (a request finding them
 * all busy waits for one, and that wait counts in its latency). autocannon's `overallRate` is
 * not this: every connection sends its whole per-second budget back to back when its
 * one-second timer fires, so "2,000 req/s" there is all 2,000 requests at full speed in the
 * first 0.2 s of each second and nothing in the rest.
 *
 * The sender writes one prebuilt GET and reads the answer's head for its status and
 * Content-Length, nothing else: node:http as the client cost 138 µs of CPU per request on the
 * 2-core bench machine — more than the bare server it measures — against ~20 µs this way, and
 * the two share the machine. Latencies are exact (performance.now, not whole ms), from the
 * moment a request is due and handed to a socket (or queued for one) to its last body byte.
 * `lateP99Ms` says how far behind its schedule the sender itself was (its own event loop being
 * late), so a run the machine paced can be told apart.
 */
export interface LoadResult {
  /** Every 2xx latency in ms, unsorted. */
  latencies: Float64Array;
  sent: number;
  non2xx: number;
  errors: number;
  /** p99 and max of (actual send − scheduled send) in ms; a paced load only. */
  lateP99Ms?: number;
  lateMaxMs?: number;
  wallSeconds: number;
}

export interface LoadOptions {
  url: string;
  /** Paths asked in turn, one per request (on url's host); absent: url's own path every time. */
  paths?: readonly string[];
  headers?: Record<string, string>;
  /** Requests per second. */
  rate: number;
  seconds: number;
  connections: number;
}

const HEAD_END = Buffer.from("\r\n\r\n");

export async function pacedLoad(opts: LoadOptions): Promise<LoadResult> {
  const target = new URL(opts.url);
  const headers = Object.entries(opts.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const requests = (opts.paths ?? [`${target.pathname}${target.search}`]).map((path) =>
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\n${headers}\r\n`, "latin1"),
  );
  let nextRequest = 0;
  const total = Math.round(opts.rate * opts.seconds);
  const latencies = new Float64Array(total);
  const late = new Float64Array(total);
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let finished = 0;
  let sent = 0;
  /** Dispatch times of requests waiting for a free socket, oldest first. */
  const waiting: number[] = [];
  let waitingHead = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    allDone = r;
  });

  const fail = (_t0: number | undefined) => {
    errors++;
    if (++finished === total) allDone();
  };

  class Conn {
    socket!: Socket;
    busy = false;
    private t0 = 0;
    private head: Buffer | undefined;
    private inHead = true;
    private remaining = 0;
    private status = 0;

    open(): Promise<void> {
      this.socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
      this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
      this.socket.on("error", () => undefined);
      this.socket.on("close", () => {
        if (this.busy) this.finish(false);
        // No socket left: what still waits can never be sent.
        if (pool.every((c) => c.socket.destroyed))
          while (waitingHead < waiting.length) fail(waiting[waitingHead++]);
      });
      return new Promise((ok, fail) => {
        this.socket.once("connect", ok);
        this.socket.once("error", fail);
      });
    }

    send(t0: number): void {
      this.busy = true;
      this.t0 = t0;
      this.inHead = true;
      this.head = undefined;
      this.socket.write(requests[nextRequest++ % requests.length] as Buffer);
    }

    private onData(chunk: Buffer): void {
      if (this.inHead) {
        const buf = this.head ? Buffer.concat([this.head, chunk]) : chunk;
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          this.head = buf;
          return;
        }
        const head = buf.toString("latin1", 0, end);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        this.status = Number(head.slice(9, 12));
        this.inHead = false;
        this.head = undefined;
        // The servers measured always frame their answers by Content-Length.
        if (!length) {
          this.finish(false);
          return;
        }
        this.remaining = Number(length[1]) - (buf.length - end - HEAD_END.length);
      } else {
        this.remaining -= chunk.length;
      }
      if (this.remaining === 0) this.finish(true);
      else if (this.remaining < 0) this.finish(false);
    }

    private finish(complete: boolean): void {
      if (!complete) errors++;
      else if (this.status >= 200 && this.status < 300) latencies[ok++] = performance.now() - this.t0;
      else non2xx++;
      this.busy = false;
      if (++finished === total) allDone();
      else if (complete && waitingHead < waiting.length) this.send(waiting[waitingHead++] as number);
    }
  }

  const pool = Array.from({ length: opts.connections }, () => new Conn());
  await Promise.all(pool.map((c) => c.open()));
  const dispatch = (t0: number) => {
    const idle = pool.find((c) => !c.busy && !c.socket.destroyed);
    if (idle) idle.send(t0);
    else if (pool.some((c) => !c.socket.destroyed)) waiting.push(t0);
    else fail(t0);
  };

  const start = performance.now();
  const intervalMs = 1000 / opts.rate;
  // Timers fire at best every ~1 ms: each tick sends every request whose time has come.
  const tick = () => {
    const now = performance.now();
    while (sent < total && start + sent * intervalMs <= now) {
      late[sent] = now - (start + sent * intervalMs);
      sent++;
      dispatch(now);
    }
    if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
  };
  tick();
  await done;
  const wallSeconds = (performance.now() - start) / 1000;
  for (const c of pool) c.socket.destroy();
  const lateSorted = late.slice(0, sent).sort();
  return {
    latencies: latencies.slice(0, ok),
    sent,
    non2xx,
    errors,
    lateP99Ms: lateSorted[Math.max(0, Math.ceil(0.99 * sent) - 1)] ?? 0,
    lateMaxMs: lateSorted[sent - 1] ?? 0,
    wallSeconds,
  };
}
