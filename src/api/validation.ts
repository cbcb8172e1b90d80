import { Ajv, type Options } from "ajv";
import type { FastifySchemaCompiler } from "fastify";
import { grammarKeyword } from "./schemas/grammar.js";

/**
 * Request validation with two ajv instances, chosen by the part of the request:
 *
 * - bodies are JSON and carry their own types, so nothing is coerced: `"force": "true"`,
 *   `"reason": 123` or `"scope": ["global"]` are refused (400 naming the field) rather than read
 *   as something the client may not have meant;
 * - querystrings and path parameters are text by nature, so `?limit=20` must become the integer
 *   the schema asks for; only scalar coercion (no "array" wrapping) is allowed there.
 *
 * Both refuse unknown fields (no removeAdditional) and fill in schema defaults.
 */
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };
const strict = grammarKeyword(new Ajv({ ...common, coerceTypes: false }));
const textual = grammarKeyword(new Ajv({ ...common, coerceTypes: true }));

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === "body" ? strict : textual).compile(schema as object);
