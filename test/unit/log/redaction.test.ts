import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log.js";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe("logger", () => {
  it("writes JSON lines with level and service", () => {
    const { lines, destination } = capture();
    createLogger({ destination }).info({ host: "web1" }, "probe ok");
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: 30, service: "nixguard", host: "web1", msg: "probe ok" });
  });

  it("redacts tokens, authorization headers, keys and secrets wherever they appear", () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination });
    const secret = "s3cr3t-token-value-0123456789";
    log.info({ token: secret, req: { headers: { authorization: `Bearer ${secret}` } } }, "request");
    log.warn({ api: { token: secret }, ssh: { privateKey: secret }, secret, password: secret }, "x");
    const all = lines.join("");
    expect(all).not.toContain(secret);
    expect(all).toContain("[redacted]");
  });

  it("honours the level", () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, level: "warn" });
    log.info("hidden");
    log.warn("shown");
    expect(lines).toHaveLength(1);
  });

  it("keeps action keys readable", () => {
    const { lines, destination } = capture();
    createLogger({ destination }).info({ key: "restart__fedi__web1" }, "action finished");
    expect(lines[0]).toContain("restart__fedi__web1");
  });
});
