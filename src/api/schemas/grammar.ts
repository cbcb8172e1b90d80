import { z } from "zod";
import { parseDuration } from "../../config/duration.js";
import * as g from "../../config/grammar.js";
import { Name, UnitName } from "../../config/schema.js";
import { parseScope } from "../scope.js";

/**
 * API values that name config things are checked by the very grammar functions the config uses
 * (config/grammar.ts): a JSON Schema `pattern` would drift from them. Schemas carry the
 * `x-grammar` keyword, which the ajv plugin below runs; the grammar's message becomes the 400.
 */
export const GRAMMARS = {
  resourceName: g.resourceName,
  unitName: g.unitName,
  /** A store path or a profile generation number (`rollback --to`). */
  rollbackTarget: (v: string) =>
    /^\d{1,10}$/.test(v)
      ? g.generationNumber(Number(v))
      : g.storePath(v) && `expected a generation number or ${g.storePath(v)}`,
  pauseScope: (v: string) => {
    const s = parseScope(v);
    return typeof s === "string" ? s : undefined;
  },
  /** ISO 8601 timestamp or a duration ("2h": from now for `until`, ago for `since`). */
  timeOrDuration: (v: string) =>
    parseDuration(v) !== undefined || (/^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v)))
      ? undefined
      : 'expected an ISO 8601 time such as "2025-01-31T12:00:00Z" or a duration such as "2h"',
} satisfies Record<string, g.Check>;

export type GrammarName = keyof typeof GRAMMARS;

/** The slice of ajv the plugin needs (api/validation.ts runs two ajv instances). */
interface AjvLike {
  // `never`: any ajv's addKeyword signature fits; the definition below is ajv's FuncKeywordDefinition.
  addKeyword(definition: never): unknown;
}

export function grammarKeyword<A extends AjvLike>(ajv: A): A {
  const definition = {
    keyword: "x-grammar",
    type: "string",
    schemaType: "string",
    errors: true,
    validate: function check(grammar: string, data: string) {
      const fn = GRAMMARS[grammar as GrammarName];
      const problem = fn ? fn(data) : `unknown grammar ${grammar}`;
      if (problem === undefined) return true;
      (check as unknown as { errors: unknown[] }).errors = [
        { keyword: "x-grammar", message: problem, params: { grammar } },
      ];
      return false;
    },
  };
  ajv.addKeyword(definition as never);
  return ajv;
}

/** JSON Schema of a zod schema from the config (draft-07 for fastify's ajv), plus its grammar. */
export function fromZod(schema: z.ZodType, grammar?: GrammarName): Record<string, unknown> {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io: "input", target: "draft-7" }) as Record<
    string,
    unknown
  >;
  return grammar ? { ...json, "x-grammar": grammar } : json;
}

export const NameSchema = fromZod(Name, "resourceName");
export const UnitNameSchema = fromZod(UnitName, "unitName");
