import { describe, expect, it } from "vitest";
import { storePath } from "../../../src/config/grammar.js";
import { ProbeError } from "../../../src/errors.js";
import {
  buildListGenerationsCommand,
  buildSwitchCommand,
  parseGenerations,
} from "../../../src/probes/systemd/generations.js";
import { pickTarget } from "../../../src/queue/handle-rollback.js";
import { systemStorePath } from "../../../src/sim/store-path.js";

const g = (n: number) => systemStorePath("web", n);
const DONE = "::nixguard:generations-done::";

describe("store path grammar", () => {
  it("accepts what /run/current-system points at, refuses anything a shell or ssh could misread", () => {
    expect(storePath(g(1))).toBeUndefined();
    for (const bad of [
      "/nix/store/short-nixos",
      `${g(1)}/bin`,
      `${g(1)}'; rm -rf /`,
      `${g(1)} x`,
      `${g(1)}\n`,
      "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x", // e is not in Nix's base32
      `-${g(1)}`,
      "/etc/passwd",
      `/nix/store/${"a".repeat(32)}-$(id)`,
      `/nix/store/${"a".repeat(32)}-a?b`,
    ])
      expect(storePath(bad), bad).toBeDefined();
  });
});

describe("generation listing", () => {
  it("the remote line is plain sh over the profile links, current system and done marker", () => {
    const line = buildListGenerationsCommand();
    expect(line).toContain("/nix/var/nix/profiles/system-*-link");
    expect(line).toContain("readlink /run/current-system");
    expect(line.endsWith(`echo '${DONE}'`)).toBe(true);
  });

  it("parses generations, the profile's generation and the current system", () => {
    const out = [
      `gen 3 ${g(3)}`,
      `gen 1 ${g(1)}`,
      `gen 2 ${g(2)}`,
      "profile system-3-link",
      `current ${g(3)}`,
      DONE,
    ].join("\n");
    expect(parseGenerations(`${out}\n`)).toEqual({
      generations: [
        { number: 1, path: g(1) },
        { number: 2, path: g(2) },
        { number: 3, path: g(3) },
      ],
      profile: 3,
      current: g(3),
    });
  });

  it("skips links that are not NixOS generations; refuses truncated or foreign output", () => {
    const out = [`gen 4 /tmp/evil`, `gen 0 ${g(1)}`, `gen 2 ${g(2)}`, DONE].join("\n");
    expect(parseGenerations(out).generations).toEqual([{ number: 2, path: g(2) }]);
    expect(() => parseGenerations(`gen 2 ${g(2)}\n`)).toThrow(ProbeError);
    expect(() => parseGenerations(`hello\n${DONE}\n`)).toThrow(/unexpected line/);
  });
});

describe("switch command", () => {
  it("checks the generation is there, sets the profile as nix-env --set would, switches in a transient unit", () => {
    const line = buildSwitchCommand(g(2), "nixguard-rollback-0a1b2c.service");
    expect(line).toContain(`[ -x '${g(2)}'/bin/switch-to-configuration ] ||`);
    expect(line).toContain(`nix-env -p /nix/var/nix/profiles/system --set '${g(2)}'`);
    expect(line).toContain(
      `ln -sfn "system-$n-link" /nix/var/nix/profiles/.system.tmp && mv -T /nix/var/nix/profiles/.system.tmp /nix/var/nix/profiles/system`,
    );
    expect(line).toContain(
      `systemd-run --unit='nixguard-rollback-0a1b2c.service' --wait --collect --quiet --service-type=exec -- '${g(2)}'/bin/switch-to-configuration switch`,
    );
  });

  it("refuses a path or unit outside their grammars before any text is built", () => {
    expect(() => buildSwitchCommand(`${g(2)}'; reboot; '`, "u.service")).toThrow(/store path/);
    expect(() => buildSwitchCommand(g(2), "u'; reboot")).toThrow(/unit name/);
  });
});

describe("rollback target", () => {
  const listing = { generations: [1, 3].map((n) => ({ number: n, path: g(n) })) };
  it("the newest wanted generation still on the host", () => {
    const a = { kind: "rollback" as const, deployment: "d", host: "web", to: [g(2), g(1)] };
    expect(pickTarget(a, listing)).toEqual({ path: g(1) });
    expect(pickTarget({ ...a, toGeneration: 3 }, listing)).toEqual({ path: g(3) });
  });
  it("refuses a generation the host no longer has", () => {
    const a = { kind: "rollback" as const, deployment: "d", host: "web", to: [g(2)] };
    expect(pickTarget(a, listing)).toEqual({
      refused: `${g(2)} is no longer on the host (garbage-collected?)`,
    });
    expect(pickTarget({ ...a, toGeneration: 2 }, listing)).toEqual({
      refused: "generation 2 is no longer on the host",
    });
  });
});
