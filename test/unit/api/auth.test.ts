import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { authenticate, loadTokens, makeToken } from "../../../src/api/auth.js";
import { createLogger } from "../../../src/log.js";
import { ADMIN_SECRET, admin, fixture, READ_SECRET, reader } from "./fixture.js";

const dir = mkdtempSync(join(tmpdir(), "nixguard-tokens-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function captureLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ level: "trace", destination }) };
}

describe("loadTokens", () => {
  test("reads name, scope and secret; warns when others can read the file", () => {
    const strict = join(dir, "admin");
    const loose = join(dir, "grafana");
    writeFileSync(strict, `${ADMIN_SECRET}\n`, { mode: 0o600 });
    writeFileSync(loose, READ_SECRET, { mode: 0o644 });
    chmodSync(loose, 0o644);
    const { lines, logger } = captureLogger();
    const tokens = loadTokens(
      [
        { file: strict, scope: "admin" },
        { name: "dash", file: loose, scope: "read" },
      ],
      logger,
    );
    expect(tokens.map((t) => [t.name, t.scope])).toEqual([
      ["admin", "admin"],
      ["dash", "read"],
    ]);
    expect(authenticate(tokens, `Bearer ${ADMIN_SECRET}`)).toEqual({ name: "admin", scope: "admin" });
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ file: loose, mode: "0644" });
    expect(lines.join("")).not.toContain(READ_SECRET);
  });

  test("a missing or empty file is a clear error naming it", () => {
    const empty = join(dir, "empty");
    writeFileSync(empty, "  \n", { mode: 0o600 });
    const { logger } = captureLogger();
    expect(() => loadTokens([{ file: join(dir, "absent"), scope: "read" }], logger)).toThrow(
      /api.tokens\[0\]: cannot read token file .*absent \(ENOENT\)/,
    );
    expect(() => loadTokens([{ file: empty, scope: "read" }], logger)).toThrow(/token file .*empty is empty/);
  });
});

describe("authenticate", () => {
  const tokens = [makeToken("a", "admin", "secret-a"), makeToken("r", "read", "secret-r")];
  test.each([
    [undefined, undefined],
    ["", undefined],
    ["Bearer", undefined],
    ["Bearer secret-", undefined],
    ["Bearer secret-a-longer", undefined],
    ["Basic secret-a", undefined],
    ["Bearer secret-a", "a"],
    ["bearer  secret-r", "r"],
  ])("%j → %s", (header, name) => {
    expect(authenticate(tokens, header)?.name).toBe(name);
  });
});

describe("the HTTP layer", () => {
  test("metricsAuth puts /metrics behind a read token", async () => {
    const { app } = await fixture({ config: { metricsAuth: true } });
    expect((await app.inject({ url: "/metrics" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/metrics", headers: reader })).statusCode).toBe(200);
    expect((await app.inject({ url: "/healthz" })).statusCode).toBe(200);
    await app.close();
  });

  test("no token reaches a log line: valid, invalid, in a query string, or in a failing request", async () => {
    const { lines, logger } = captureLogger();
    const { app, control } = await fixture({ logger });
    const wrong = "wrong-token-0123456789";
    await app.inject({ url: "/api/v1/status", headers: reader });
    await app.inject({ url: "/api/v1/status", headers: { authorization: `Bearer ${wrong}` } });
    await app.inject({ url: `/api/v1/status?token=${READ_SECRET}`, headers: reader });
    await app.inject({ method: "POST", url: "/api/v1/deployments/fedi/redeploy", headers: admin });
    // An unexpected failure logs the error with the request: still no header.
    control.status = async () => {
      throw new Error("boom");
    };
    const failed = await app.inject({ url: "/api/v1/status", headers: admin });
    expect(failed.statusCode).toBe(500);
    expect(failed.json()).toEqual({ statusCode: 500, code: "INTERNAL", message: "internal error (logged)" });
    await app.close();
    const text = lines.join("");
    expect(text).toContain('"msg":"command"');
    expect(text).toContain('"actor":"ops"');
    expect(text).toContain("boom");
    for (const secret of [ADMIN_SECRET, READ_SECRET, wrong]) expect(text).not.toContain(secret);
  });
});
