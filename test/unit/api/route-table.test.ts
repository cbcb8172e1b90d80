import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, expect, test } from "vitest";
import { registeredRoutes } from "../../../src/api/app.js";
import type { FakeControlPlane } from "../../helpers/fake-control-plane.js";
import { fixture, reader } from "./fixture.js";

/**
 * Walks every route the app registered, so a route added later cannot forget auth: without a
 * token everything but the four open endpoints is 401, with a read token every admin route is 403.
 */
let app: FastifyInstance;
let control: FakeControlPlane;
beforeAll(async () => {
  ({ app, control } = await fixture());
});
afterAll(() => app.close());

const SAMPLE_PARAMS: Record<string, string> = { name: "garage", unit: "unit0.service", id: "1" };
const concrete = (url: string) => url.replace(/:(\w+)/g, (_, p: string) => SAMPLE_PARAMS[p] ?? "x");

test("the route table is what the API documents", () => {
  const routes = registeredRoutes(app);
  expect(routes.length).toBe(25);
  expect(
    routes
      .filter((r) => r.auth === "public")
      .map((r) => r.url)
      .sort(),
  ).toEqual(["/healthz", "/metrics", "/openapi.json", "/readyz"]);
  // Every mutating route is admin; every admin route is a POST.
  for (const r of routes) expect(r.method === "POST", `${r.method} ${r.url}`).toBe(r.auth === "admin");
});

test("every non-public route refuses a missing or wrong token with 401 and WWW-Authenticate", async () => {
  for (const r of registeredRoutes(app).filter((r) => r.auth !== "public")) {
    const url = concrete(r.url);
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic b3BzOnB3" }]) {
      const res = await app.inject({
        method: r.method as "GET",
        url,
        headers,
        payload: r.method === "POST" ? {} : undefined,
      });
      expect(res.statusCode, `${r.method} ${url} ${JSON.stringify(headers)}`).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
  }
});

test("every admin route refuses a read token with 403 and changes nothing", async () => {
  control.calls.length = 0;
  const routes = registeredRoutes(app).filter((r) => r.auth === "admin");
  expect(routes.length).toBe(11);
  for (const r of routes) {
    const res = await app.inject({
      method: r.method as "POST",
      url: concrete(r.url),
      headers: reader,
      payload: {},
    });
    expect(res.statusCode, `${r.method} ${r.url}`).toBe(403);
  }
  expect(control.calls).toEqual([]);
});

test("every read route answers a read token (no route is accidentally admin-only)", async () => {
  for (const r of registeredRoutes(app).filter((r) => r.auth === "read")) {
    const res = await app.inject({ method: "GET", url: concrete(r.url), headers: reader });
    expect([200, 404], `${r.method} ${r.url}`).toContain(res.statusCode);
  }
});

test("unknown paths need a token too (no route enumeration)", async () => {
  expect((await app.inject({ url: "/api/v1/nothing" })).statusCode).toBe(401);
  expect((await app.inject({ url: "/api/v1/nothing", headers: reader })).statusCode).toBe(403);
});
