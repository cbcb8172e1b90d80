import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { checkTargets } from "../../../src/nixops4/check-targets.js";
import { FAKE_NIXOPS4, type FakeControl, type FakeFlake, makeFakeFlake } from "../../helpers/fake-nixops4.js";

/** Targets against what a nixops4 of each CLI generation answers in the deployment's directory. */
let flakes: FakeFlake[] = [];
afterEach(() => {
  for (const f of flakes) f.cleanup();
  flakes = [];
});

function setup(control: FakeControl, target: unknown, hostTarget?: string) {
  const f = makeFakeFlake("targets");
  flakes.push(f);
  f.control(control);
  const loaded = parseConfig({
    nixops4: { command: FAKE_NIXOPS4 },
    deployments: {
      fedi: {
        flake: f.dir,
        target,
        hosts: {
          garage: { address: "10.0.0.10", units: ["garage.service"] },
          mastodon: {
            address: "10.0.0.11",
            units: ["mastodon-web.service"],
            ...(hostTarget ? { target: hostTarget } : {}),
          },
        },
      },
    },
  });
  return { f, loaded };
}

const newer: FakeControl = {
  cli: "newer",
  composites: { "": ["fediversity"], fediversity: ["garage", "mastodon"] },
  resources: ["fediversity.garage", "fediversity.mastodon"],
};

describe("targets that exist (checked with nixops4 itself)", () => {
  it("newer CLI: a host target naming a machine (a resource) is refused, saying what to use", async () => {
    const { f, loaded } = setup(newer, "fediversity", "fediversity.mastodon");
    const r = await checkTargets(loaded);
    expect(r.generations).toEqual({ [f.dir]: "members" });
    expect(r.issues).toEqual([
      {
        path: "deployments.fedi.hosts.mastodon.target",
        message:
          'host mastodon, target fediversity.mastodon: "fediversity.mastodon" is a resource (a nixops4-nixos machine is one), and nixops4 applies composites only; apply the composite that holds it, or the whole root (target []) (root members: fediversity)',
        value: "fediversity.mastodon",
      },
    ]);
    // It asked nixops4 read-only questions only.
    const argvs = f
      .calls()
      .filter((c) => c.event === "start")
      .map((c) => c.argv);
    expect(argvs).toEqual([
      ["--help"],
      ["members", "list", "--no-interactive"],
      ["members", "list", "--no-interactive", "--", "fediversity"],
      ["members", "list", "--no-interactive", "--", "fediversity.mastodon"],
    ]);
  });

  it("newer CLI: a composite path and the whole root ([]) are accepted", async () => {
    expect((await checkTargets(setup(newer, "fediversity").loaded)).issues).toEqual([]);
    expect((await checkTargets(setup(newer, []).loaded)).issues).toEqual([]);
    const missing = await checkTargets(setup(newer, "fedi").loaded);
    expect(missing.issues).toEqual([
      expect.objectContaining({
        path: "deployments.fedi.target",
        message: expect.stringContaining("attribute 'fedi' missing"),
      }),
    ]);
  });

  it("older CLI: the target must be a deployment nixops4 lists; a dot path is refused naming what exists", async () => {
    const older: FakeControl = { cli: "older", deployments: ["check-deployment-cli-mastodon-pixelfed"] };
    const ok = await checkTargets(setup(older, "check-deployment-cli-mastodon-pixelfed").loaded);
    expect(ok).toMatchObject({ issues: [], generations: { [flakes[0]!.dir]: "deployments" } });
    const bad = await checkTargets(
      setup(older, "check-deployment-cli-mastodon-pixelfed", "fediversity.mastodon").loaded,
    );
    expect(bad.issues).toEqual([
      {
        path: "deployments.fedi.hosts.mastodon.target",
        message:
          'host mastodon, target fediversity.mastodon: no deployment "fediversity.mastodon" in ' +
          `${flakes[1]!.dir} (nixops4 deployments list: check-deployment-cli-mastodon-pixelfed); the older CLI has no per-machine paths: use the deployment's name`,
        value: "fediversity.mastodon",
      },
    ]);
  });
});
