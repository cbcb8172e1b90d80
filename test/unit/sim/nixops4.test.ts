import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Fleet } from "../../../src/sim/fleet.js";
import { simLayout } from "../../../src/sim/layout.js";
import { Nixops4Sim, parseNixops4Argv, type Step } from "../../../src/sim/nixops4.js";

const golden = (name: string) =>
  readFileSync(new URL(`../../fixtures/golden/nixops4/${name}`, import.meta.url), "utf8");
const mask = (s: string) =>
  s
    .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/gm, "<TS>")
    .replace(/time\.busy=\S+ time\.idle=\S+/g, "time.busy=<DUR> time.idle=<DUR>");

const flake = mkdtempSync(join(tmpdir(), "nixguard-flake-"));
writeFileSync(join(flake, "flake.nix"), "{ outputs = _: { }; }\n");
afterAll(() => rmSync(flake, { recursive: true, force: true }));

function apply(sim: Nixops4Sim, argv: string[]): { stderr: string; code: number } {
  const begin = sim.begin(argv, flake, process.pid, false);
  if (begin.kind !== "wait") throw new Error(`expected wait, got ${begin.kind}`);
  const end = sim.finish(begin.finishId) as Extract<Step, { kind: "exit" }>;
  return { stderr: begin.stderr + end.stderr, code: end.code };
}

describe("fake nixops4", () => {
  it("prints tracing progress as the real headless logger and applies the target (golden)", () => {
    const fleet = new Fleet(simLayout("fediversity"));
    fleet.inject({ kind: "drift", host: "mastodon" });
    const r = apply(new Nixops4Sim(fleet), ["apply", "--no-interactive", "fediversity"]);
    expect(r.code).toBe(0);
    expect(mask(r.stderr)).toBe(golden("apply-success.txt"));
    const mastodon = fleet.host("mastodon")!;
    expect(mastodon.currentSystem).toBe(fleet.desiredSystem(mastodon));
  });

  it("fails with the anyhow chain and leaves the host as it was (golden)", () => {
    const fleet = new Fleet(simLayout("fediversity"));
    const sim = new Nixops4Sim(fleet);
    sim.setBehavior({ mode: "fail" });
    fleet.inject({ kind: "unit-stop", host: "pixelfed", unit: "pixelfed-horizon.service" });
    const r = apply(sim, ["apply", "--no-interactive", "fediversity.pixelfed"]);
    expect(r.code).toBe(1);
    expect(mask(r.stderr)).toBe(golden("apply-failure.txt"));
    expect(fleet.host("pixelfed")!.units.get("pixelfed-horizon.service")!.activeState).toBe("inactive");
  });

  it("moves to a new generation when told the flake changed, and falls back to ok after `times`", () => {
    const fleet = new Fleet(simLayout("fediversity"));
    const sim = new Nixops4Sim(fleet);
    const before = fleet.host("garage")!.currentSystem;
    sim.setBehavior({ newGeneration: true });
    expect(apply(sim, ["apply", "--no-interactive", "fediversity.garage"]).code).toBe(0);
    expect(fleet.host("garage")!.currentSystem).not.toBe(before);
    sim.setBehavior({ newGeneration: false, mode: "fail", times: 1 });
    expect(apply(sim, ["apply", "--no-interactive", "fediversity.garage"]).code).toBe(1);
    expect(apply(sim, ["apply", "--no-interactive", "fediversity.garage"]).code).toBe(0);
  });

  it("parses the global flags anywhere, like clap, and refuses conflicts", () => {
    expect(
      parseNixops4Argv([
        "-v",
        "apply",
        "--show-trace",
        "--override-input",
        "nixpkgs",
        "path:/x",
        "a.b",
        "--no-interactive",
      ]),
    ).toEqual({
      subcommand: "apply",
      targets: ["a.b"],
      verbose: true,
      interactive: false,
      noInteractive: true,
      showTrace: true,
      overrideInputs: [["nixpkgs", "path:/x"]],
    });
    const both = parseNixops4Argv(["apply", "--interactive", "--no-interactive"]);
    expect("error" in both && both.error).toMatch(/^error: the argument '--interactive' cannot be used/);
  });

  it("refuses an unknown target with exit 1", () => {
    const sim = new Nixops4Sim(new Fleet(simLayout("fediversity")));
    const r = sim.begin(["apply", "--no-interactive", "fediversity.nope"], flake, 1, false);
    expect(r.kind === "exit" && r.code).toBe(1);
  });
});
