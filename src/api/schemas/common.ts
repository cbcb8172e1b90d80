import { HOST_STATES } from "../../controller/types.js";
import { NameSchema } from "./grammar.js";

/** Small JSON Schema builders: every route's schema is spelled with these so shapes stay uniform. */
export type JsonSchema = Record<string, unknown>;

export const str = (extra: JsonSchema = {}): JsonSchema => ({ type: "string", ...extra });
export const int = (extra: JsonSchema = {}): JsonSchema => ({ type: "integer", ...extra });
export const num: JsonSchema = { type: "number" };
export const bool: JsonSchema = { type: "boolean" };
export const epochMs = int({ description: "Epoch milliseconds" });
export const strEnum = (values: readonly string[]): JsonSchema => ({ type: "string", enum: [...values] });
export const arr = (items: JsonSchema, extra: JsonSchema = {}): JsonSchema => ({
  type: "array",
  items,
  ...extra,
});
export const map = (values: JsonSchema): JsonSchema => ({ type: "object", additionalProperties: values });

/** A closed object: listed properties only; `required` names the mandatory ones. */
export function obj(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: "object", additionalProperties: false, properties, required };
}

export const countsBy = (keys: readonly string[]): JsonSchema =>
  obj(Object.fromEntries(keys.map((k) => [k, int()])), [...keys]);

export const hostStateCounts = countsBy(HOST_STATES);

export const ConfigIssueSchema = obj(
  { path: str(), message: str(), value: {}, where: obj({ line: int(), column: int() }, ["line", "column"]) },
  ["path", "message"],
);

/** Every error answer: a stable code, a message, and whichever of field / reason / resource applies. */
export const ErrorSchema = obj(
  {
    statusCode: int(),
    code: str(),
    message: str(),
    field: str({ description: "The request field that was refused (400)" }),
    reason: str({ description: "What blocks the command (409): paused, maintenance, quarantined, ..." }),
    resource: str({ description: "What was not found (404): deployment, host, job, unit, pause" }),
    issues: arr(ConfigIssueSchema),
    where: obj({ line: int(), column: int() }, ["line", "column"]),
  },
  ["statusCode", "code", "message"],
);

/** The response map of a route: its success shape(s) plus the shared error shape. */
export function responses(ok: Record<number, JsonSchema>): Record<string, JsonSchema> {
  return { ...ok, "4xx": ErrorSchema, "5xx": ErrorSchema };
}

export const NameParams = obj({ name: NameSchema }, ["name"]);
export const HostRefQuery = obj({ deployment: NameSchema });

/** Commands accept `force` to pass pause and maintenance; a missing body means `{}`. */
export const CommandBody = obj({
  force: { ...bool, description: "Run despite pause or maintenance (recorded in the event)" },
});
