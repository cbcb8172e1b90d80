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

function apply(sim: Nixops4Sim, argv: string[]): { stdout: string; stderr: string; code: number } {
  const begin = sim.begin(argv, flake, process.pid, false);
  if (begin.kind !== "wait") throw new Error(`expected wait, got ${begin.kind}`);
  const end = sim.finish(begin.finishId) as Extract<Step, { kind: "exit" }>;
  return {
    stdout: (begin.stdout ?? "") + (end.stdout ?? ""),
    stderr: begin.stderr + end.stderr,
    code: end.code,
  };
}

/** The Fediversity layout cut to the goldens' two machines: garage (unchanged) and mastodon. */
function goldenFleet(): Fleet {
  const full = simLayout("fediversity");
  const dep = full.deployments[0]!;
  const fleet = new Fleet({
    ...full,
    deployments: [{ ...dep, hosts: dep.hosts.filter((h) => h.name === "garage" || h.name === "mastodon") }],
  });
  fleet.inject({ kind: "drift", host: "mastodon" });
  return fleet;
}

/**
 * The lines the fake must reproduce from a recorded golden: every tracing line (timestamps and
 * durations masked), the preview list and the created resources' names. The resources' inputs
 * are the deployment's own (the goldens' are made up to test redaction), so they are left out.
 */
const goldenLines = (text: string) =>
  mask(text)
    .split("\n")
    .filter((l) => /^<TS> {2}INFO |^The following |^ {2}- /.test(l));

describe("fake nixops4: both CLI generations, as recorded (golden)", () => {
  it("newer CLI: every line on stderr, ComponentPath spans, preview and created resources", () => {
    const sim = new Nixops4Sim(goldenFleet());
    const r = apply(sim, ["apply", "--no-interactive", "fediversity"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(golden("newer/apply-success.stdout")).toBe("");
    expect(goldenLines(r.stderr)).toEqual(goldenLines(golden("newer/apply-success.stderr")));
  });

  it("older CLI: tracing on stdout, paths relative to the deployment, the rest on stderr", () => {
    const sim = new Nixops4Sim(goldenFleet());
    sim.setBehavior({ cli: "older" });
    const r = apply(sim, ["apply", "--no-interactive", "fediversity"]);
    expect(r.code).toBe(0);
    expect(goldenLines(r.stdout)).toEqual(goldenLines(golden("older/apply-success.stdout")));
    expect(goldenLines(r.stderr)).toEqual(goldenLines(golden("older/apply-success.stderr")));
    // Nothing but tracing on stdout; no tracing on stderr.
    expect(r.stdout.split("\n").filter((l) => l !== "" && !/ {2}INFO /.test(l))).toEqual([]);
    expect(r.stderr).not.toMatch(/ {2}INFO /);
  });

  it("the span line shape is the one ../shared/fediversity.md quotes from nixops4", () => {
    const r = apply(new Nixops4Sim(goldenFleet()), ["apply", "--no-interactive", "fediversity"]);
    expect(mask(r.stderr)).toContain(
      '<TS>  INFO Applying composite:Applying resource{resource=ComponentPath(["fediversity", "garage"])}: nixops4::work: new\n',
    );
    expect(mask(r.stderr)).toMatch(/ nixops4::work: close time\.busy=<DUR> time\.idle=<DUR>\n$/);
  });

  it("fails with the anyhow chain and leaves the host as it was", () => {
    const fleet = new Fleet(simLayout("fediversity"));
    const sim = new Nixops4Sim(fleet);
    sim.setBehavior({ mode: "fail" });
    fleet.inject({ kind: "unit-stop", host: "pixelfed", unit: "pixelfed-horizon.service" });
    const r = apply(sim, ["apply", "--no-interactive", "fediversity"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /nixops4 error: Failed to create stateless resource fediversity\.garage\n\nCaused by:\n {4}Local resource process failed with exit code: 1\n$/,
    );
    expect(fleet.host("pixelfed")!.units.get("pixelfed-horizon.service")!.activeState).toBe("inactive");
  });

  it("moves to a new generation when told the flake changed, and falls back to ok after `times`", () => {
    const fleet = new Fleet(simLayout("fediversity"));
    const sim = new Nixops4Sim(fleet);
    const before = fleet.host("garage")!.currentSystem;
    sim.setBehavior({ newGeneration: true });
    expect(apply(sim, ["apply", "--no-interactive", "fediversity"]).code).toBe(0);
    expect(fleet.host("garage")!.currentSystem).not.toBe(before);
    sim.setBehavior({ newGeneration: false, mode: "fail", times: 1 });
    expect(apply(sim, ["apply", "--no-interactive", "fediversity"]).code).toBe(1);
    expect(apply(sim, ["apply", "--no-interactive", "fediversity"]).code).toBe(0);
  });

  it("the composite rule (newer) and the unknown deployment (older) refuse a machine's dot path", () => {
    const sim = new Nixops4Sim(new Fleet(simLayout("fediversity")));
    const newer = sim.begin(["apply", "--no-interactive", "--", "fediversity.garage"], flake, 1, false);
    expect(newer).toEqual({
      kind: "exit",
      stderr: "nixops4 error: Expected composite at fediversity.garage, but found resource\n",
      code: 1,
    });
    sim.setBehavior({ cli: "older" });
    const older = sim.begin(["apply", "--no-interactive", "fediversity.garage"], flake, 1, false);
    expect(older).toEqual({
      kind: "exit",
      stderr: "nixops4 error: attribute 'fediversity.garage' missing\n",
      code: 1,
    });
    const two = sim.begin(["apply", "a", "b"], flake, 1, false);
    expect(two.kind === "exit" && [two.code, two.stderr.split("\n")[0]]).toEqual([
      2,
      "error: unexpected argument 'b' found",
    ]);
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
      help: false,
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
