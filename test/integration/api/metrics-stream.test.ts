import { type IncomingMessage, request } from "node:http";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Series } from "../../../src/computed-gauge.js";
import { type Listening, listen } from "./server.js";

/**
 * /metrics is sent as a stream of chunks produced at the reader's pace: a fleet's page (~9 MB at
 * 10,000 hosts × 8 checks) is never one string in the server, and a scraper that stops reading
 * or goes away stops the rendering.
 */
let api: Listening;
let produced = 0;
let total = 0;

/** `n` check series made up on the fly, counting how many the server has read. */
function* fleet(n: number): Generator<Series> {
  for (let i = 0; i < n; i++) {
    produced++;
    yield { labels: ["fedi", `host-${i}`, `unit:mastodon-web.service`], value: i % 2 };
  }
}

beforeAll(async () => {
  api = await listen();
  api.metrics.checkUp.from(() => fleet(total));
});
afterAll(() => api.close());

function get(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}${path}`, resolve);
    req.once("error", reject);
    req.end();
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding("utf8");
  let text = "";
  for await (const chunk of res) text += chunk;
  return text;
}

/** Each family's block of the page, by name. */
function families(page: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const block of page.split("\n\n")) out.set(/^# HELP (\S+)/.exec(block)?.[1] ?? "?", block);
  return out;
}

test("a large page arrives chunked, byte for byte what prom-client prints", async () => {
  total = 50_000;
  const res = await get("/metrics");
  expect(res.statusCode).toBe(200);
  expect(res.headers["transfer-encoding"]).toBe("chunked");
  expect(res.headers["content-length"]).toBeUndefined();
  expect(res.headers["content-type"]).toContain("text/plain");
  const text = await readAll(res);
  expect(text.split("\n").filter((l) => l.startsWith("nixguard_check_up{")).length).toBe(50_000);
  // Process metrics move between two reads; every other family must be identical.
  const ours = families(text);
  const theirs = families(await api.metrics.registry.metrics());
  expect([...ours.keys()]).toEqual([...theirs.keys()]);
  for (const [name, block] of ours)
    if (!/^nixguard_(nodejs|process)_/.test(name)) expect(block).toBe(theirs.get(name));
  expect(text.endsWith("\n")).toBe(true);
});

test("the page is rendered as it is read: a scraper that stops reading stops the rendering", async () => {
  // ~70 MB of text if rendered whole; loopback's socket buffers hold a few MB at most.
  total = 1_000_000;
  produced = 0;
  const res = await get("/metrics");
  expect(res.statusCode).toBe(200);
  res.pause();
  await new Promise((r) => setTimeout(r, 500));
  const whilePaused = produced;
  expect(whilePaused).toBeGreaterThan(0);
  expect(whilePaused).toBeLessThan(total / 4);
  // The scraper goes away: nothing more is rendered for it.
  res.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const after = produced;
  await new Promise((r) => setTimeout(r, 300));
  expect(produced).toBe(after);
  expect(after).toBeLessThan(total / 4);
});
