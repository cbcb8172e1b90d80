import { Agent, request } from "node:http";

/**
 * An open-loop load generator: request i is sent at start + i / rate whatever the answers do,
 * over at most `connections` keep-alive sockets (a request waits for a free one, and that wait
 * counts in its latency). autocannon's `overallRate` is not this: every connection sends its
 * whole per-second budget back to back when its one-second timer fires, so "2,000 req/s" there is
 * all 2,000 requests at full speed in the first 0.2 s of each second and nothing in the rest.
 * Latencies are exact (performance.now, not whole ms), from the moment a request is handed to
 * node:http to the end of its body. `lateMs` says how far behind its schedule the generator
 * itself sent (its own event loop being late), so a run whose pacing failed can be told apart.
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
  headers?: Record<string, string>;
  /** Requests per second. */
  rate: number;
  seconds: number;
  connections: number;
}

export async function pacedLoad(opts: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const total = Math.round(opts.rate * opts.seconds);
  const latencies = new Float64Array(total);
  const late = new Float64Array(total);
  const target = new URL(opts.url);
  const options = {
    agent,
    host: target.hostname,
    port: target.port,
    path: `${target.pathname}${target.search}`,
    headers: opts.headers ?? {},
  };
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let finished = 0;
  let sent = 0;
  const start = performance.now();
  const intervalMs = 1000 / opts.rate;

  await new Promise<void>((done) => {
    const settle = () => {
      finished++;
      if (finished === total) done();
    };
    const send = (scheduled: number) => {
      const t0 = performance.now();
      late[sent++] = t0 - scheduled;
      const req = request(options, (res) => {
        res.on("data", () => undefined);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) latencies[ok++] = performance.now() - t0;
          else non2xx++;
          settle();
        });
      });
      req.on("error", () => {
        errors++;
        settle();
      });
      req.end();
    };
    // Timers fire at best every ~1 ms: each tick sends every request whose time has come.
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) send(start + sent * intervalMs);
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
    };
    tick();
  });
  agent.destroy();
  const lateSorted = late.slice(0, sent).sort();
  return {
    latencies: latencies.slice(0, ok),
    sent,
    non2xx,
    errors,
    lateP99Ms: lateSorted[Math.max(0, Math.ceil(0.99 * sent) - 1)] ?? 0,
    lateMaxMs: lateSorted[sent - 1] ?? 0,
    wallSeconds: (performance.now() - start) / 1000,
  };
}
