import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { systemStorePath } from "../../../src/sim/store-path.js";
import type { FakeControlPlane } from "../../helpers/fake-control-plane.js";
import { admin, fixture, reader } from "./fixture.js";

let app: FastifyInstance;
let control: FakeControlPlane;
beforeAll(async () => {
  ({ app, control } = await fixture());
});
afterAll(() => app.close());

const g = (n: number) => systemStorePath("garage", n);
const hold = {
  deployment: "fedi",
  host: "garage",
  bad: g(2),
  to: g(1),
  since: 5,
  reason: "garage.service",
  cause: "a deploy by someone else of fedi first seen 1970-01-01T00:00:00.000Z",
  actor: "controller",
};
const post = (url: string, payload: object = {}) =>
  app.inject({ method: "POST", url, headers: admin, payload });

describe("rollback routes", () => {
  test("generations: what NixGuard remembers of the host, and its hold", async () => {
    control.generationsOf.set("fedi/garage", {
      deployment: "fedi",
      host: "garage",
      current: g(1),
      generations: [
        {
          path: g(2),
          firstSeen: 3,
          since: 3,
          by: "other",
          verdict: "bad",
          verdictAt: 4,
          reason: "garage.service",
        },
        { path: g(1), firstSeen: 1, since: 4, by: "nixguard", verdict: "good", verdictAt: 2 },
      ],
      hold,
    });
    const res = await app.inject({ url: "/api/v1/hosts/garage/generations", headers: reader });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(control.generationsOf.get("fedi/garage"));
  });

  test("rollback: to a generation number or a store path; anything else is 400 before the controller", async () => {
    let res = await post("/api/v1/hosts/garage/rollback", { to: "3" });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ key: "rollback__fedi__garage" });
    expect(control.calls.at(-1)).toMatchObject({ method: "rollback", args: [{ host: "garage" }, 3] });
    res = await post("/api/v1/hosts/garage/rollback", { to: g(1) });
    expect(control.calls.at(-1)).toMatchObject({ method: "rollback", args: [{ host: "garage" }, g(1)] });
    const calls = control.calls.length;
    for (const to of [`${g(1)}; reboot`, "/etc/passwd", "0", "-1", "../x"]) {
      res = await post("/api/v1/hosts/garage/rollback", { to });
      expect(res.statusCode, to).toBe(400);
    }
    res = await post("/api/v1/hosts/garage/rollback", { to: 3 });
    expect(res.statusCode).toBe(400);
    expect(control.calls.length).toBe(calls);
  });

  test("release: the hold, then 404", async () => {
    let res = await post("/api/v1/hosts/garage/release");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ released: hold });
    res = await post("/api/v1/hosts/garage/release");
    expect(res.statusCode).toBe(404);
  });
});
