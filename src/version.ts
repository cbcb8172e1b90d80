import { readFileSync } from "node:fs";

/** package.json's version, found from both src/ (tsx) and dist/ (built). */
export const VERSION: string = (() => {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "nixguard" && pkg.version) return pkg.version;
    } catch {}
  }
  return "0.0.0";
})();
