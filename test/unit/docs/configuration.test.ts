import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { currentConfigDocs, type JsonSchema, renderConfigDocs } from "../../../scripts/gen-config-docs.js";

describe("docs/configuration.md", () => {
  it("is current with docs/config.schema.json (run `npx tsx scripts/gen-config-docs.ts`)", () => {
    const { expected, actual } = currentConfigDocs();
    expect(actual).toBe(expected);
  });

  it("has a section for every top-level key of the schema", () => {
    const schema = JSON.parse(
      readFileSync(new URL("../../../docs/config.schema.json", import.meta.url), "utf8"),
    ) as JsonSchema;
    const doc = renderConfigDocs(schema);
    for (const key of Object.keys(schema.properties ?? {}).filter((k) => k !== "$schema")) {
      expect(doc).toContain(`## \`${key}\``);
    }
  });
});

describe("renderConfigDocs", () => {
  const schema: JsonSchema = {
    type: "object",
    required: ["deployments"],
    properties: {
      $schema: { type: "string" },
      probes: {
        type: "object",
        default: {},
        properties: {
          interval: { type: "string", default: "30s", description: "Duration: number + unit" },
          concurrency: { type: "integer", minimum: 1, maximum: 9007199254740991, default: 64 },
          mode: { type: "string", enum: ["a", "b|c"] },
        },
      },
      deployments: {
        type: "object",
        propertyNames: { type: "string" },
        additionalProperties: {
          type: "object",
          required: ["flake"],
          properties: {
            flake: { type: "string", description: "Absolute path without shell metacharacters" },
            hosts: {
              type: "object",
              additionalProperties: {
                type: "object",
                properties: {
                  http: {
                    type: "array",
                    items: { type: "object", required: ["url"], properties: { url: { type: "string" } } },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
  const doc = renderConfigDocs(schema);
  const row = (key: string) => doc.split("\n").find((l) => l.startsWith(`| \`${key}\` |`));

  it("renders nested keys with their type, default and a note where the schema has no prose", () => {
    expect(row("probes.interval")).toBe(
      '| `probes.interval` | duration | `"30s"` | Time between two probe cycles of one host |',
    );
    // MAX_SAFE_INTEGER is zod's "no upper bound".
    expect(row("probes.concurrency")).toMatch(/\| integer \(≥ 1\) \| `64` \|/);
  });

  it("escapes table pipes in enums", () => {
    expect(row("probes.mode")).toContain('`"a"` \\| `"b\\|c"`');
  });

  it("names record keys and array items, and marks required keys", () => {
    expect(row("deployments")).toMatch(/\| map of object \| \*required\* \|/);
    expect(row("deployments.<name>.flake")).toBe("| `deployments.<name>.flake` | path | *required* |  |");
    expect(row("deployments.<name>.hosts.<host>.http")).toMatch(/array of object/);
    expect(row("deployments.<name>.hosts.<host>.http[].url")).toMatch(/\*required\*/);
  });

  it("skips $schema and marks required sections", () => {
    expect(doc).not.toContain("## `$schema`");
    expect(doc).toContain("## `deployments` (required)");
    expect(doc).toContain("## `probes`\n");
  });
});
