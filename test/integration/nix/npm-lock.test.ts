/**
 * nix/npm-lock.nix alone, on small locks: the URL npm itself would fetch for each kind of entry
 * (plain, scoped, nested, aliased), entries it leaves alone (the root, a `resolved` of their own,
 * workspace links, optional builds without integrity), and a required entry without integrity,
 * which must stop the evaluation rather than a build that fails offline later. The project's own
 * lock goes through it in flake-eval.test.ts. Skipped without NIXPKGS_LIB; with it set, a failure.
 */
import { describe, expect, it } from "vitest";
import { nixEval, nixpkgsLib, unusable } from "./nix-eval.js";

type Entry = Record<string, unknown> & { resolved?: string };

const nixString = (text: string) => JSON.stringify(text).replace(/\$\{/g, "\\${");

function withResolved(
  packages: Record<string, Entry>,
  registry = "https://registry.npmjs.org/",
): Record<string, Entry> {
  return nixEval<Record<string, Entry>>("test/integration/nix/eval-npm-lock.nix", {
    lock: nixString(JSON.stringify({ lockfileVersion: 3, packages })),
    registry: nixString(registry),
  });
}

const integrity = "sha512-AAAA";

describe.skipIf(!nixpkgsLib)("nix/npm-lock.nix", () => {
  it("NIXPKGS_LIB is a nixpkgs lib and nix-instantiate runs (set but unusable is a failure)", () => {
    expect(unusable()).toBeUndefined();
  });

  it("gives each installed entry npm's tarball URL from name and version, integrity kept", () => {
    const out = withResolved(
      {
        "": { name: "app", version: "1.0.0" },
        "node_modules/fastify": { version: "5.1.0", integrity },
        "node_modules/@babel/parser": { version: "7.29.14", integrity },
        "node_modules/ajv/node_modules/@scope/inner": { version: "2.0.0", integrity },
        "node_modules/string-width-cjs": { name: "string-width", version: "4.2.3", integrity },
        "node_modules/pinned": { version: "1.0.0", integrity, resolved: "https://mirror.example/pinned.tgz" },
        "node_modules/linked": { resolved: "packages/linked", link: true },
        "packages/linked": { name: "linked", version: "0.1.0" },
        "node_modules/@biomejs/cli-win32-x64": { version: "2.6.8", optional: true },
        "node_modules/dev-only-optional": { version: "1.0.0", devOptional: true },
      },
      "https://npm.example.org/", // a trailing slash is not doubled
    );
    expect(out["node_modules/fastify"]).toEqual({
      version: "5.1.0",
      integrity,
      resolved: "https://npm.example.org/fastify/-/fastify-5.1.0.tgz",
    });
    expect(out["node_modules/@babel/parser"]!.resolved).toBe(
      "https://npm.example.org/@babel/parser/-/parser-7.29.14.tgz",
    );
    expect(out["node_modules/ajv/node_modules/@scope/inner"]!.resolved).toBe(
      "https://npm.example.org/@scope/inner/-/inner-2.0.0.tgz",
    );
    expect(out["node_modules/string-width-cjs"]!.resolved).toBe(
      "https://npm.example.org/string-width/-/string-width-4.2.3.tgz",
    );
    expect(out[""]).toEqual({ name: "app", version: "1.0.0" });
    expect(out["node_modules/pinned"]!.resolved).toBe("https://mirror.example/pinned.tgz");
    expect(out["node_modules/linked"]).toEqual({ resolved: "packages/linked", link: true });
    expect(out["packages/linked"]).toEqual({ name: "linked", version: "0.1.0" });
    expect(out["node_modules/@biomejs/cli-win32-x64"]).toEqual({ version: "2.6.8", optional: true });
    expect(out["node_modules/dev-only-optional"]).toEqual({ version: "1.0.0", devOptional: true });
  });

  it("refuses a required entry without integrity, naming it", () => {
    expect(() => withResolved({ "node_modules/fastify": { version: "5.1.0" } })).toThrow(
      /package-lock\.json: node_modules\/fastify has no integrity/,
    );
  });
});
