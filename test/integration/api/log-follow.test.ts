import { afterEach, expect, test } from "vitest";
import { FINAL_STATE_POLL_MS, MAX_FOLLOWERS_PER_TOKEN } from "../../../src/api/routes/jobs.js";
import { readSse, type SseEvent } from "../../../src/cli/sse.js";
import { ADMIN, type Listening, listen, READ } from "./server.js";

let api: Listening | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** Reads events one at a time so the test can act between them. */
function reader(stream: AsyncIterable<SseEvent>) {
  const it = stream[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    return r.done ? undefined : r.value;
  };
}

test("GET /jobs/:id/log?follow=1 streams each line as it is produced, then how the job ended", async () => {
  api = await listen();
  const { control } = api;
  const res0 = await fetch(`${api.url}/api/v1/deployments/fedi/redeploy`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  const { jobId } = (await res0.json()) as { jobId: string };
  control.startJob(jobId);
  control.appendLog(jobId, "evaluating deployment");

  const res = await fetch(`${api.url}/api/v1/jobs/${jobId}/log?follow=1`, {
    headers: { authorization: `Bearer ${READ}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const next = reader(readSse(res.body!));

  // The stored line first, then each new line arrives before the next one is even produced.
  expect(JSON.parse((await next())!.data).text).toBe("evaluating deployment");
  for (const text of ["copying paths", "activating mastodon"]) {
    control.appendLog(jobId, text, "stderr");
    const ev = await next();
    expect(ev?.event).toBe("line");
    expect(JSON.parse(ev!.data)).toMatchObject({ text, stream: "stderr" });
  }
  control.finishJob(jobId, "success");
  const end = await next();
  expect(end?.event).toBe("end");
  expect(JSON.parse(end!.data)).toMatchObject({ state: "completed", outcome: "success" });
  expect(await next()).toBeUndefined();
});

test("the end comes after the job's final state: a log closed while the worker still re-probes waits for it", async () => {
  api = await listen();
  const { control } = api;
  const { jobId } = await control.redeploy("fedi", { actor: "t", force: false });
  control.startJob(jobId);
  const res = await fetch(`${api.url}/api/v1/jobs/${jobId}/log?follow=1`, {
    headers: { authorization: `Bearer ${READ}` },
  });
  const events: SseEvent[] = [];
  const reading = (async () => {
    for await (const ev of readSse(res.body!)) events.push(ev);
  })();
  control.appendLog(jobId, "apply done", "stderr");
  await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
  // nixops4 ended and its log is closed; the job is still active while the hosts are re-probed.
  control.closeLog(jobId);
  // Several of the route's polls pass: no `end` (it said `active` here before, issue 19).
  await new Promise((r) => setTimeout(r, FINAL_STATE_POLL_MS * 4));
  expect(events.map((e) => e.event)).toEqual(["line"]);
  control.finishJob(jobId, "success");
  await reading;
  expect(events.map((e) => e.event)).toEqual(["line", "end"]);
  expect(JSON.parse(events[1]!.data)).toMatchObject({ state: "completed", outcome: "success" });
});

test("follow of an unknown job is a plain 404; a client going away releases the follower", async () => {
  api = await listen();
  const auth = { authorization: `Bearer ${READ}` };
  expect((await fetch(`${api.url}/api/v1/jobs/42/log?follow=1`, { headers: auth })).status).toBe(404);

  const { jobId } = await api.control.redeploy("fedi", { actor: "t", force: false });
  api.control.startJob(jobId);
  const aborter = new AbortController();
  const res = await fetch(`${api.url}/api/v1/jobs/${jobId}/log?follow=1`, {
    headers: auth,
    signal: aborter.signal,
  });
  expect(res.status).toBe(200);
  aborter.abort();
  // The server notices the disconnect and stops listening for this job's lines.
  const emitter = (api.control as unknown as { emitter: import("node:events").EventEmitter }).emitter;
  await expect.poll(() => emitter.listenerCount(`log:${jobId}`), { timeout: 5000 }).toBe(0);
});

test("closing the server ends open followers instead of hanging", async () => {
  api = await listen();
  const { jobId } = await api.control.redeploy("fedi", { actor: "t", force: false });
  api.control.startJob(jobId);
  const res = await fetch(`${api.url}/api/v1/jobs/${jobId}/log?follow=1`, {
    headers: { authorization: `Bearer ${READ}` },
  });
  const next = reader(readSse(res.body!));
  const closing = api.close();
  api = undefined;
  await closing;
  expect(await next()).toBeUndefined();
});

test("log followers are bounded per token; a closed follower frees its place", async () => {
  api = await listen();
  const { jobId } = await api.control.redeploy("fedi", { actor: "t", force: false });
  api.control.startJob(jobId);
  const url = `${api.url}/api/v1/jobs/${jobId}/log?follow=1`;
  const follow = (token: string, signal?: AbortSignal) =>
    fetch(url, { headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
  const aborters = Array.from({ length: MAX_FOLLOWERS_PER_TOKEN }, () => new AbortController());
  for (const a of aborters) expect((await follow(READ, a.signal)).status).toBe(200);
  const refused = await follow(READ);
  expect(refused.status).toBe(429);
  expect(await refused.json()).toMatchObject({
    code: "TOO_MANY",
    message: expect.stringContaining("log followers"),
  });
  // Another token has its own share.
  const other = new AbortController();
  expect((await follow(ADMIN, other.signal)).status).toBe(200);
  other.abort();
  aborters[0]!.abort();
  // The server notices the disconnect, and the place is free again.
  const again = new AbortController();
  aborters.push(again);
  await expect.poll(async () => (await follow(READ, again.signal)).status, { timeout: 5000 }).toBe(200);
  for (const a of aborters) a.abort();
});
