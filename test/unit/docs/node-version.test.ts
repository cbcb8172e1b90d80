/**
 * One Node version, stated on purpose (issue 19): the Docker image, the Nix package and the
 * README name the same major; `engines` admits it; no dependency needs a newer Node than
 * `engines` admits unless the README names it with its reason.
 */
import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);
const read = (f: string) => readFileSync(new URL(f, root), "utf8");
const pkg = JSON.parse(read("package.json")) as { engines: { node: string } };
const lock = JSON.parse(read("package-lock.json")) as {
  packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }>;
};
const readme = read("README.md");

const dockerMajor = Number(/^ARG NODE_IMAGE=node:(\d+)-slim$/m.exec(read("Dockerfile"))?.[1]);
const nixMajor = Number(/nodejs = nodejs_(\d+);/.exec(read("nix/package.nix"))?.[1]);

describe("the Node version", () => {
  it("is one major for Docker, Nix and the README, and engines admits it", () => {
    expect(dockerMajor).toBeGreaterThan(0);
    expect(nixMajor).toBe(dockerMajor);
    expect(read("flake.nix")).toContain(`pkgs.nodejs_${dockerMajor}`);
    expect(readme).toContain(`NixGuard runs on Node ${dockerMajor}`);
    expect(semver.intersects(pkg.engines.node, `^${dockerMajor}.0.0`)).toBe(true);
  });

  it("engines admits the Node this suite runs on", () => {
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });

  it("no dependency needs a newer Node than engines admits, unless the README notes it", () => {
    const lowest = semver.minVersion(pkg.engines.node)!.version;
    const needsNewer: string[] = [];
    for (const [path, meta] of Object.entries(lock.packages)) {
      const range = !Array.isArray(meta.engines) ? meta.engines?.node : undefined;
      if (!path || !range || !semver.validRange(range)) continue;
      if (!semver.satisfies(lowest, range))
        needsNewer.push(`${path.replace(/^.*node_modules\//, "")}@${range}`);
    }
    const unnoted = needsNewer.filter((p) => !readme.includes(`\`${p.split("@")[0]}@`));
    expect(
      unnoted,
      `needs a newer Node than ${lowest} and is not in the README: ${unnoted.join(", ")}`,
    ).toEqual([]);
  });
});
