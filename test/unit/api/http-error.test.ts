import { expect, test } from "vitest";
import { ConflictError, NotFoundError } from "../../../src/api/control-plane-port.js";
import { toHttpError } from "../../../src/api/http-error.js";
import { ConfigError, NixGuardError } from "../../../src/errors.js";

test.each([
  [new NotFoundError("host", "web"), 404, { resource: "host" }],
  [new ConflictError("maintenance", "in a window"), 409, { reason: "maintenance" }],
  [new NixGuardError("CONFLICT", "busy"), 409, {}],
  [new NixGuardError("REDIS_UNAVAILABLE", "down"), 503, {}],
  [new NixGuardError("USAGE", "ambiguous"), 400, {}],
  [new ConfigError([{ path: "a", message: "b" }]), 422, { issues: [{ path: "a", message: "b" }] }],
])("%s → %i", (err, status, extra) => {
  expect(toHttpError(err)).toMatchObject({ statusCode: status, code: err.code, ...extra });
});

test("only classified errors are 5xx; everything unknown is a bare 500 without internals", () => {
  for (const err of [
    new Error("ECONNRESET at 10.0.0.1"),
    new NixGuardError("COMMAND_FAILED", "argv"),
    "x",
    undefined,
  ]) {
    expect(toHttpError(err)).toEqual({
      statusCode: 500,
      code: "INTERNAL",
      message: "internal error (logged)",
    });
  }
  // A 5xx status on a plugin error is not trusted either.
  expect(toHttpError({ statusCode: 502, message: "upstream" }).statusCode).toBe(500);
});

test("validation errors name the field the way people write it", () => {
  const v = (instancePath: string, params: Record<string, unknown>, ctx = "body") =>
    toHttpError({ validation: [{ instancePath, params, message: "bad" }], validationContext: ctx }).field;
  expect(v("/deployments/0", {})).toBe("body.deployments[0]");
  expect(v("", { missingProperty: "reason" })).toBe("body.reason");
  expect(v("", { additionalProperty: "extra" })).toBe("body.extra");
  expect(v("/state", {}, "querystring")).toBe("querystring.state");
});
