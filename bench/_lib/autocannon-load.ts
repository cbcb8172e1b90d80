import autocannon from "autocannon";
import type { LoadOptions, LoadResult } from "./paced-load.js";

/**
 * The same load through autocannon (`overallRate` over `connections`), in this thread so its
 * per-response event gives each latency exactly: autocannon's own histogram keeps whole ms and,
 * at a rate, adds synthetic samples for coordinated omission at an interval of ceil(1 / per-
 * connection rate) = 1 ms, which pulls its p50 below any latency actually seen.
 */
export async function autocannonLoad(opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = performance.now();
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((ok, fail) => {
    instance = autocannon(
      {
        url: opts.url,
        headers: opts.headers ?? {},
        connections: opts.connections,
        overallRate: opts.rate,
        duration: opts.seconds,
        ...(opts.paths ? { requests: opts.paths.map((path) => ({ method: "GET" as const, path })) } : {}),
      },
      (err, result) => (err ? fail(err) : ok(result)),
    );
  });
  instance?.on("response", (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const r = await done;
  return {
    latencies: Float64Array.from(latencies),
    sent: r.requests.sent,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    wallSeconds: (performance.now() - start) / 1000,
  };
}
