/**
 * Who may import whom. The queue and the controller meet in src/action.ts (an action and its
 * job); the queue importing controller code made the two a knot (issue 18, item 10).
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const src = new URL("../../../src/", import.meta.url);

function importsOf(dir: string): { file: string; from: string }[] {
  const out: { file: string; from: string }[] = [];
  for (const name of readdirSync(new URL(`${dir}/`, src), { recursive: true }) as string[]) {
    if (!name.endsWith(".ts")) continue;
    const text = readFileSync(new URL(`${dir}/${name}`, src), "utf8");
    for (const m of text.matchAll(/^(?:import|export)[^;]*?from "([^"]+)";/gms))
      out.push({ file: `${dir}/${name}`, from: m[1]! });
  }
  return out;
}

describe("layering", () => {
  it("src/queue imports nothing from src/controller", () => {
    const bad = importsOf("queue").filter((i) => /(^|\/)controller\//.test(i.from));
    expect(bad).toEqual([]);
  });

  it("the API's adapter takes narrow interfaces, not the Manager", () => {
    const adapter = importsOf("runtime").filter((i) => i.file.endsWith("control-plane-adapter.ts"));
    expect(adapter.length).toBeGreaterThan(0);
    expect(adapter.filter((i) => /manager\.js$/.test(i.from))).toEqual([]);
  });
});
