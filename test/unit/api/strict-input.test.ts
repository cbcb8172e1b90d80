import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { FakeControlPlane } from "../../helpers/fake-control-plane.js";
import { admin, fixture, reader } from "./fixture.js";

let app: FastifyInstance;
let control: FakeControlPlane;

beforeEach(async () => {
  ({ app, control } = await fixture());
});
afterEach(async () => {
  await app.close();
});

const send = (url: string, payload: string, contentType = "application/json") =>
  app.inject({ method: "POST", url, headers: { ...admin, "content-type": contentType }, payload });

describe("bodies are JSON with their own types: nothing is coerced", () => {
  // Issue 19: of 13 such bodies 1 was refused and 6 created a pause or a job.
  const cases: [string, object, string][] = [
    ["/api/v1/pause", { scope: "global", reason: 123 }, "body.reason"],
    ["/api/v1/pause", { scope: "global", reason: true }, "body.reason"],
    ["/api/v1/pause", { scope: ["global"], reason: "x" }, "body.scope"],
    ["/api/v1/pause", { scope: "global", reason: ["x"] }, "body.reason"],
    ["/api/v1/pause", { scope: "global", reason: "x", until: 7200 }, "body.until"],
    ["/api/v1/resume", { scope: "global", reason: 1 }, "body.reason"],
    ["/api/v1/deployments/fedi/redeploy", { force: "true" }, "body.force"],
    ["/api/v1/deployments/fedi/redeploy", { force: 1 }, "body.force"],
    ["/api/v1/deployments/fedi/redeploy", { force: null }, "body.force"],
    ["/api/v1/reconcile", { dryRun: "true" }, "body.dryRun"],
    ["/api/v1/reconcile", { dryRun: 1 }, "body.dryRun"],
    ["/api/v1/reconcile", { dryRun: null }, "body.dryRun"],
    ["/api/v1/reconcile", { deployments: "fedi" }, "body.deployments"],
  ];
  test.each(cases)("%s %j is 400 naming %s, and changes nothing", async (url, body, field) => {
    const r = await send(url, JSON.stringify(body));
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: "BAD_REQUEST", field });
    expect(control.pauses).toEqual([]);
    expect(control.jobsById.size).toBe(0);
  });

  test("querystrings are text: numbers in them are read as numbers, anything else refused", async () => {
    const ok = await app.inject({ url: "/api/v1/events?limit=2", headers: reader });
    expect(ok.statusCode).toBe(200);
    const bad = await app.inject({ url: "/api/v1/events?limit=two", headers: reader });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ field: "querystring.limit" });
    const list = await app.inject({ url: "/api/v1/jobs?limit=1&limit=2", headers: reader });
    expect(list.statusCode).toBe(400);
  });
});

describe("malformed or foreign bodies answer in NixGuard's error shape", () => {
  test("invalid JSON: JSON_INVALID with line and column", async () => {
    const r = await send("/api/v1/pause", '{\n  "scope": "global"\n  "reason": "x"\n}');
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({
      statusCode: 400,
      code: "JSON_INVALID",
      message: "invalid JSON at line 3 column 3: expected ',' (or the end of the object or array)",
      where: { line: 3, column: 3 },
    });
    const cut = await send("/api/v1/reconcile", '{"dryRun": ');
    expect(cut.json()).toMatchObject({ code: "JSON_INVALID", where: { line: 1, column: 12 } });
  });

  test("a form or XML body is 415 UNSUPPORTED_MEDIA_TYPE saying what to send", async () => {
    for (const [type, body] of [
      ["application/x-www-form-urlencoded", "scope=global&reason=x"],
      ["application/xml", "<pause><scope>global</scope></pause>"],
      ["text/plain", "global"],
    ] as const) {
      const r = await send("/api/v1/pause", body, type);
      expect(r.statusCode).toBe(415);
      expect(r.json()).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE" });
      expect(r.json().message).toMatch(/application\/json/);
    }
    expect(control.pauses).toEqual([]);
  });

  test("an empty JSON body is {}", async () => {
    const r = await send("/api/v1/deployments/fedi/redeploy", "");
    expect(r.statusCode).toBe(202);
  });
});
