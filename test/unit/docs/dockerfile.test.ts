/**
 * No Docker engine and no hadolint here: the Dockerfile is checked by reading it.
 * Every COPY source must exist and survive .dockerignore, so a renamed file breaks
 * this test instead of `docker build` on someone else's machine.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
const ignored = readFileSync(new URL(".dockerignore", root), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

/** Instructions with their continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const stages = instructions.filter((l) => /^FROM /.test(l));
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

describe("Dockerfile", () => {
  it("builds in stages from a slim Node 22 image", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-slim$/m);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of stages) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}/);
    expect(instructions).toContain("RUN npm ci --no-audit --no-fund");
    expect(instructions).toContain("RUN npm run build");
    expect(instructions.some((l) => /npm ci --omit=dev/.test(l))).toBe(true);
  });

  it("runs the final stage as a non-root user with ssh, a health check and a state volume", () => {
    const user = finalStage.find((l) => l.startsWith("USER "));
    expect(user).toBeDefined();
    expect(user).not.toMatch(/\broot\b|\b0\b/);
    expect(finalStage.some((l) => /apt-get install .*openssh-client/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^HEALTHCHECK .*CMD/.test(l))).toBe(true);
    expect(dockerfile).toMatch(/NIXGUARD_HEALTH_URL=http:\/\/127\.0\.0\.1:9273\/healthz/);
    expect(finalStage).toContain('VOLUME ["/var/lib/nixguard"]');
    expect(finalStage.find((l) => l.startsWith("CMD "))).toContain("/etc/nixguard/nixguard.json");
  });

  it("copies no dev dependencies or sources into the final stage", () => {
    const copies = finalStage.filter((l) => l.startsWith("COPY "));
    expect(copies.some((l) => /--from=deps \/app\/node_modules/.test(l))).toBe(true);
    expect(copies.some((l) => /--from=build \/src\/dist/.test(l))).toBe(true);
    expect(copies.some((l) => /\bsrc\b/.test(l) && !l.includes("--from"))).toBe(false);
  });

  it("uses COPY, not ADD, and cleans the apt lists", () => {
    expect(instructions.some((l) => l.startsWith("ADD "))).toBe(false);
    for (const l of instructions.filter((i) => /apt-get install/.test(i))) {
      expect(l).toMatch(/--no-install-recommends/);
      expect(l).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    }
  });

  it("copies only files that exist and that .dockerignore lets through", () => {
    const sources = instructions
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const src of sources) {
      expect(existsSync(new URL(src, root)), `${src} exists`).toBe(true);
      const top = src.split("/")[0]!;
      expect(ignored, `${src} is not ignored`).not.toContain(top);
    }
  });

  it(".dockerignore keeps the checkout's heavy and secret files out of the context", () => {
    for (const entry of [".git", "node_modules", "dist", ".env", "*.key"]) expect(ignored).toContain(entry);
  });
});
