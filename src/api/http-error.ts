import { isNixGuardError } from "../errors.js";
import { JsonSyntaxError } from "../json-text.js";
import { ConflictError, NotFoundError } from "./control-plane-port.js";

/** The one JSON shape every error answer has (schemas/common.ts ErrorSchema). */
export interface HttpErrorBody {
  statusCode: number;
  code: string;
  message: string;
  field?: string;
  reason?: string;
  resource?: string;
  issues?: { path: string; message: string; value?: unknown }[];
  /** Invalid JSON: where the first thing wrong is (1-based). */
  where?: { line: number; column: number };
}

interface ValidationItem {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
  validation?: ValidationItem[];
  validationContext?: string;
}

const NIXGUARD_STATUS: Record<string, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  USAGE: 400,
  JSON_INVALID: 400,
  UNSAFE_VALUE: 400,
  CONFIG_INVALID: 422,
  REDIS_UNAVAILABLE: 503,
};

/**
 * Maps any thrown value to a status and body. Only a dependency being down (REDIS_UNAVAILABLE)
 * yields a deliberate 5xx; an error nobody classified is a bug and answers a bare 500 whose body
 * carries no internals.
 */
export function toHttpError(err: unknown): HttpErrorBody {
  const e = err as FastifyLikeError;
  if (e?.validation && e.validation.length > 0) return validationError(e.validation[0]!, e.validationContext);
  if (isNixGuardError(err)) {
    const statusCode = NIXGUARD_STATUS[err.code];
    if (statusCode !== undefined) {
      const body: HttpErrorBody = { statusCode, code: err.code, message: err.message };
      if (err instanceof NotFoundError) body.resource = err.resource;
      if (err instanceof ConflictError) body.reason = err.reason;
      if (err instanceof JsonSyntaxError) body.where = err.where;
      const issues = (err as { issues?: HttpErrorBody["issues"] }).issues;
      if (Array.isArray(issues)) body.issues = issues;
      return body;
    }
  }
  // Errors fastify and its plugins raise for bad requests: wrong content type, body too large,
  // rate limit. Fastify's own codes (FST_ERR_…) are its internals: answered in NixGuard's words.
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    const own = e.code === undefined ? undefined : FASTIFY_CODES[e.code];
    if (own) return { statusCode: e.statusCode, ...own };
    const body: HttpErrorBody = {
      statusCode: e.statusCode,
      code: e.code?.startsWith("FST_") ? "BAD_REQUEST" : (e.code ?? "BAD_REQUEST"),
      message: e.message ?? "bad request",
    };
    if (err instanceof FieldError) body.field = err.field;
    return body;
  }
  return { statusCode: 500, code: "INTERNAL", message: "internal error (logged)" };
}

const JSON_ONLY = "send the body as JSON with content-type: application/json (or no body)";
const FASTIFY_CODES: Record<string, { code: string; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: "UNSUPPORTED_MEDIA_TYPE",
    message: `unsupported content type: ${JSON_ONLY}`,
  },
  FST_ERR_CTP_INVALID_TYPE: { code: "UNSUPPORTED_MEDIA_TYPE", message: `invalid content type: ${JSON_ONLY}` },
  FST_ERR_CTP_EMPTY_TYPE: { code: "UNSUPPORTED_MEDIA_TYPE", message: `empty content type: ${JSON_ONLY}` },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: "BODY_TOO_LARGE", message: "request body larger than api.bodyLimit" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "BAD_REQUEST",
    message: "content-length does not match the body sent",
  },
};

/** 400 naming the field as people write it: `body.deployments[0]`, `params.name`, `querystring.state`. */
function validationError(v: ValidationItem, context = "request"): HttpErrorBody {
  let path = (v.instancePath ?? "")
    .split("/")
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, "/").replace(/~0/g, "~")}`))
    .join("");
  const extra = v.params?.["missingProperty"] ?? v.params?.["additionalProperty"];
  if (typeof extra === "string") path += `.${extra}`;
  const field = `${context}${path}`;
  let message = v.message ?? "invalid";
  if (v.params?.["additionalProperty"] !== undefined) message = "unknown field";
  if (Array.isArray(v.params?.["allowedValues"])) {
    message = `must be one of ${(v.params["allowedValues"] as unknown[]).map((x) => JSON.stringify(x)).join(", ")}`;
  }
  return { statusCode: 400, code: "BAD_REQUEST", message: `${field}: ${message}`, field };
}

/** A 400 the handler detects after schema validation (e.g. `until` in the past). */
export class FieldError extends Error {
  readonly statusCode = 400;
  readonly code = "BAD_REQUEST";
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** 429 for a request that would hold more than its share of a bounded resource (not the rate limit). */
export class TooManyError extends Error {
  readonly statusCode = 429;
  readonly code = "TOO_MANY";
}
