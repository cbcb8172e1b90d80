/**
 * Heap tuning is node's command line, never changed at run time (issue 18, item 8): Node calls V8
 * flags set after start-up (v8.setFlagsFromString) undefined behaviour, and `serve` set two by
 * default.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HEAP_NODE_FLAGS } from "../../../src/runtime/heap.js";

const root = new URL("../../../", import.meta.url);

describe("heap tuning", () => {
  it("nothing in src changes V8 flags at run time", () => {
    const files = (readdirSync(new URL("src/", root), { recursive: true }) as string[]).filter((f) =>
      f.endsWith(".ts"),
    );
    const setting = files.filter((f) =>
      /setFlagsFromString\s*\(/.test(readFileSync(new URL(`src/${f}`, root), "utf8")),
    );
    expect(setting).toEqual([]);
  });

  it("node takes the flags on its command line (they are V8's, not refused as unknown)", () => {
    const out = execFileSync(process.execPath, [...HEAP_NODE_FLAGS, "-e", "process.stdout.write('ok')"], {
      encoding: "utf8",
    });
    expect(out).toBe("ok");
  });

  it("the Dockerfile starts node with them", () => {
    const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
    const entry = dockerfile.split("\n").find((l) => l.startsWith("ENTRYPOINT "));
    expect(entry).toBe(
      `ENTRYPOINT ${JSON.stringify(["/usr/bin/tini", "--", "node", ...HEAP_NODE_FLAGS, "/app/dist/main.js"]).replaceAll(",", ", ")}`,
    );
  });
});
