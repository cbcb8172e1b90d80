import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis.js";

/** A real Prometheus the test starts: loopback, free port, own temp storage, short scrape interval. */
export interface TestPrometheus {
  url: string;
  /** Instant query through the HTTP API; rejects unless status is success. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Polls `query` until `accept` returns true (or the timeout passes). */
  waitFor(
    expr: string,
    accept: (r: Awaited<ReturnType<TestPrometheus["query"]>>) => boolean,
    timeoutMs?: number,
  ): Promise<Awaited<ReturnType<TestPrometheus["query"]>>>;
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port targets of job `nixguard`. */
  targets: string[];
  scrapeInterval?: string;
  ruleFiles?: string[];
  bearerToken?: string;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), "nixguard-prometheus-"));
  const port = await freePort();
  const interval = opts.scrapeInterval ?? "1s";
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [
      {
        job_name: "nixguard",
        static_configs: [{ targets: opts.targets }],
        ...(opts.bearerToken ? { authorization: { type: "Bearer", credentials: opts.bearerToken } } : {}),
      },
    ],
  };
  // JSON is YAML: no YAML library needed.
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config));
  const child: ChildProcess = spawn(
    "/usr/bin/prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready after 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const query: TestPrometheus["query"] = async (expr) =>
    (
      await get<{ result: Awaited<ReturnType<TestPrometheus["query"]>> }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      )
    ).result;
  const waitFor: TestPrometheus["waitFor"] = async (expr, accept, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await query(expr);
      if (accept(r)) return r;
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${expr}; last result ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  return { url, query, waitFor, get, stop };
}
