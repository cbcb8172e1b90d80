import { Writable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import { describe, expect, test } from "vitest";
import { lazyChildLogger, RequestLogger } from "../../../src/api/request-logger.js";
import { createLogger } from "../../../src/log.js";
import { ADMIN_SECRET, admin, fixture, reader } from "./fixture.js";

function captured(level: string) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const logger = createLogger({ level, destination });
  // Counts the children made of this logger and of its children (pino's children inherit it).
  let children = 0;
  const child = logger.child;
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
    children++;
    return child.apply(this, args);
  } as typeof logger.child;
  return { lines, logger, children: () => children };
}

describe("RequestLogger", () => {
  test("makes the child only on the first call at an enabled level, then reuses it", () => {
    const { lines, logger, children } = captured("info");
    const log = new RequestLogger(logger as unknown as FastifyBaseLogger, { reqId: "req-1" });
    log.debug({ x: 1 }, "not logged");
    log.trace("not logged either");
    expect(children()).toBe(0);
    expect(log.level).toBe("info");
    expect(log.isLevelEnabled("debug")).toBe(false);
    log.info({ token: ADMIN_SECRET }, "first");
    log.warn("second");
    expect(children()).toBe(1);
    expect(lines.map((l) => [l["msg"], l["reqId"]])).toEqual([
      ["first", "req-1"],
      ["second", "req-1"],
    ]);
    // Redaction still applies to what the request logs.
    expect(JSON.stringify(lines)).not.toContain(ADMIN_SECRET);
  });

  test("a level set on it applies to it alone", () => {
    const { lines, logger } = captured("info");
    const log = new RequestLogger(logger as unknown as FastifyBaseLogger, { reqId: "req-2" });
    log.level = "debug";
    log.debug("now logged");
    logger.debug("the parent still does not");
    expect(lines.map((l) => l["msg"])).toEqual(["now logged"]);
  });

  test("a route with a level or serializers of its own gets a real child at once", () => {
    const { logger, children } = captured("info");
    const parent = logger as unknown as FastifyBaseLogger;
    expect(lazyChildLogger(parent, { reqId: "a" }, {})).toBeInstanceOf(RequestLogger);
    expect(children()).toBe(0);
    expect(lazyChildLogger(parent, { reqId: "b" }, { level: "debug" })).not.toBeInstanceOf(RequestLogger);
    expect(children()).toBe(1);
  });

  test("through the API: a GET at info makes no request child; a command logs its line with the reqId", async () => {
    const { lines, logger, children } = captured("info");
    const { app } = await fixture({ logger });
    const before = children();
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ url: "/api/v1/hosts", headers: reader })).statusCode).toBe(200);
    // The api's own child of the daemon's logger is made once at build time, none per request.
    expect(children()).toBe(before);
    const r = await app.inject({ method: "POST", url: "/api/v1/deployments/fedi/redeploy", headers: admin });
    expect(r.statusCode).toBe(202);
    await app.close();
    const command = lines.find((l) => l["msg"] === "command");
    expect(command).toMatchObject({ component: "api", actor: "ops", status: 202, method: "POST" });
    expect(typeof command?.["reqId"]).toBe("string");
    expect(lines.some((l) => l["msg"] === "request")).toBe(false);
  });
});
