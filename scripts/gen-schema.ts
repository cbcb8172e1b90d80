/**
 * Writes docs/config.schema.json from the one config schema (src/config/schema.ts).
 * `--check` fails when the checked-in file is not current (CI).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { ConfigSchema } from "../src/config/schema.js";

const out = new URL("../docs/config.schema.json", import.meta.url);
const schema = z.toJSONSchema(ConfigSchema, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
const text = `${JSON.stringify({ ...schema, title: "NixGuard configuration" }, null, 2)}\n`;

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(out, "utf8");
  } catch {}
  if (current !== text) {
    console.error("docs/config.schema.json is out of date: run `npm run schema` and commit it");
    process.exit(1);
  }
  console.log("docs/config.schema.json is current");
} else {
  writeFileSync(out, text);
  console.log("wrote docs/config.schema.json");
}
