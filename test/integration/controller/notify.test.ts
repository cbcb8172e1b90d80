import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { Notifier, notifyKinds } from "../../../src/controller/notify.js";
import type { NixGuardEvent } from "../../../src/controller/types.js";
import { silentLogger } from "../../../src/log.js";

interface Received {
  body: { source: string; event: NixGuardEvent };
  contentType: string | undefined;
}

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** A local webhook receiver answering with the statuses given, then 200. */
async function receiver(statuses: number[] = [], delayMs = 0) {
  const got: Received[] = [];
  let calls = 0;
  const server = createServer(async (req: IncomingMessage, res) => {
    calls++;
    let data = "";
    for await (const chunk of req) data += chunk;
    const status = statuses.shift() ?? 200;
    if (status === 200) got.push({ body: JSON.parse(data), contentType: req.headers["content-type"] });
    setTimeout(() => res.writeHead(status).end(), delayMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}/hook/secret-token`, got, calls: () => calls };
}

const ev = (kind: NixGuardEvent["kind"], extra: Partial<NixGuardEvent> = {}): NixGuardEvent => ({
  time: 1,
  kind,
  deployment: "fedi",
  ...extra,
});

describe("webhooks", () => {
  it("maps event kinds to subscriptions", () => {
    expect(notifyKinds(ev("outcome", { action: "redeploy" }))).toEqual(["action", "deploy"]);
    expect(notifyKinds(ev("outcome", { action: "restart" }))).toEqual(["action"]);
    expect(notifyKinds(ev("quarantine"))).toEqual(["quarantine"]);
    expect(notifyKinds(ev("detect"))).toEqual([]);
  });

  it("POSTs JSON only for subscribed kinds, in order", async () => {
    const hook = await receiver();
    const n = new Notifier({
      targets: () => [{ url: hook.url, events: ["quarantine", "breaker"], timeout: 2_000, retries: 0 }],
      logger: silentLogger(),
    });
    n.notify(ev("quarantine", { host: "a" }));
    n.notify(ev("blocked"));
    n.notify(ev("breaker", { outcome: "open" }));
    await n.flush();
    expect(hook.got.map((r) => r.body.event.kind)).toEqual(["quarantine", "breaker"]);
    expect(hook.got[0]?.contentType).toBe("application/json");
    expect(hook.got[0]?.body).toEqual({ source: "nixguard", event: ev("quarantine", { host: "a" }) });
    expect(n.stats).toEqual({ sent: 2, failed: 0, dropped: 0 });
  });

  it("retries 5xx with backoff, gives up on 4xx", async () => {
    const flaky = await receiver([503, 500]);
    const n = new Notifier({
      targets: () => [{ url: flaky.url, events: ["drift"], timeout: 2_000, retries: 3 }],
      logger: silentLogger(),
      retryDelayMs: 20,
    });
    n.notify(ev("drift"));
    await n.flush();
    expect(flaky.calls()).toBe(3);
    expect(flaky.got).toHaveLength(1);

    const refusing = await receiver([404]);
    const m = new Notifier({
      targets: () => [{ url: refusing.url, events: ["drift"], timeout: 2_000, retries: 3 }],
      logger: silentLogger(),
      retryDelayMs: 20,
    });
    m.notify(ev("drift"));
    await m.flush();
    expect(refusing.calls()).toBe(1);
    expect(m.stats.failed).toBe(1);
  });

  it("never blocks the caller: a hanging webhook times out, a dead one is retried, the backlog is bounded", async () => {
    const slow = await receiver([], 5_000);
    const dead = "http://127.0.0.1:1/hook"; // closed loopback port
    const n = new Notifier({
      targets: () => [
        { url: slow.url, events: ["blocked"], timeout: 200, retries: 0 },
        { url: dead, events: ["blocked"], timeout: 200, retries: 1 },
      ],
      logger: silentLogger(),
      retryDelayMs: 10,
      backlog: 5,
    });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) n.notify(ev("blocked", { time: i }));
    expect(performance.now() - t0).toBeLessThan(50);
    await n.close(); // drops the backlog, aborts what is in flight
    expect(n.stats.dropped).toBeGreaterThanOrEqual(2 * (20 - 5 - 1));
    expect(n.stats.sent).toBe(0);
  });

  it("a hanging webhook is abandoned after its timeout", async () => {
    const slow = await receiver([], 3_000);
    const n = new Notifier({
      targets: () => [{ url: slow.url, events: ["blocked"], timeout: 150, retries: 0 }],
      logger: silentLogger(),
    });
    const t0 = performance.now();
    n.notify(ev("blocked"));
    await n.flush();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(n.stats.failed).toBe(1);
  });
});
