import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Fleet } from "../../../src/sim/fleet.js";
import { simLayout } from "../../../src/sim/layout.js";
import { df, type Fs, readlink, renderDf } from "../../../src/sim/render/coreutils.js";

const golden = (name: string) =>
  readFileSync(new URL(`../../fixtures/golden/df/${name}`, import.meta.url), "utf8");

/** The filesystem a captured df row describes (numbers in bytes, as every capture used -B1 or 1K). */
function fsFromCapture(text: string, fields: string[], blockSize: number): Fs {
  const row = (text.split("\n")[1] as string).trim().split(/\s+/);
  const at = (f: string) => row[fields.indexOf(f)] as string;
  const n = (f: string) => (fields.includes(f) ? Number(at(f)) * blockSize : 0);
  const used = n("used");
  const avail = n("avail");
  return {
    source: fields.includes("source") ? at("source") : "/dev/vda",
    fstype: fields.includes("fstype") ? at("fstype") : "ext4",
    size: n("size"),
    used,
    avail,
    target: at("target"),
  };
}

const CASES: [file: string, argv: string[], fields: string[], blockSize: number][] = [
  ["posix-B1-root.txt", ["-P", "-B1", "/"], ["source", "size", "used", "avail", "pcent", "target"], 1],
  [
    "posix-B1-root-nix.txt",
    ["-P", "-B1", "/", "/nix"],
    ["source", "size", "used", "avail", "pcent", "target"],
    1,
  ],
  ["posix-k.txt", ["-P", "/"], ["source", "size", "used", "avail", "pcent", "target"], 1024],
  ["default-B1.txt", ["-B1", "/"], ["source", "size", "used", "avail", "pcent", "target"], 1],
  ["output-B1.txt", ["--output=target,size,used,avail", "-B1", "/"], ["target", "size", "used", "avail"], 1],
  [
    "output-all.txt",
    ["--output=source,fstype,size,used,avail,pcent,target", "-B1", "/"],
    ["source", "fstype", "size", "used", "avail", "pcent", "target"],
    1,
  ],
];

describe("fake df against GNU df captures", () => {
  for (const [file, argv, fields, blockSize] of CASES) {
    it(`df ${argv.join(" ")}`, () => {
      const text = golden(file);
      const fs = fsFromCapture(text, fields, blockSize);
      expect(renderDf(argv, () => fs)).toEqual({ stdout: text, stderr: "", code: 0 });
    });
  }

  it("reports a missing path on stderr with exit 1 and still prints the others", () => {
    const f = new Fleet(simLayout("fediversity"));
    const r = df(f.host("garage")!, ["-P", "-B1", "/", "/nonexistent"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("df: /nonexistent: No such file or directory\n");
    expect(r.stdout.split("\n")).toHaveLength(3);
  });

  it("follows the simulated disk fill level", () => {
    const f = new Fleet(simLayout("fediversity"));
    f.inject({ kind: "resources", host: "garage", diskUsedFraction: 0.93 });
    const row = df(f.host("garage")!, ["-P", "-B1", "/"]).stdout.split("\n")[1] as string;
    // ext4 reserves 5 %: Use% = ceil(used / (used + avail)) = ceil(93 / 95).
    expect(row).toMatch(/ 98% \/$/);
    expect(row.trim().split(/\s+/)[2]).toBe(String(Math.round(107_374_182_400 * 0.93)));
  });
});

describe("fake readlink", () => {
  it("prints the current system's store path and nothing for other paths", () => {
    const f = new Fleet(simLayout("fediversity"));
    const host = f.host("mastodon")!;
    const r = readlink(host, ["/run/current-system"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^\/nix\/store\/[0-9abcdfghijklmnpqrsvwxyz]{32}-nixos-system-mastodon-25\.05\.\d{8}\.[0-9a-z]{7}\n$/,
    );
    expect(readlink(host, ["/etc/hostname"])).toEqual({ stdout: "", stderr: "", code: 1 });
  });
});
