/**
 * Every error NixGuard raises on purpose carries a stable `code`; callers branch on the
 * code, never on message text (undici's habit). The data a person needs to act travels
 * with the error, not inside a formatted string.
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_READ"
  | "USAGE"
  | "COMMAND_FAILED"
  | "COMMAND_NOT_FOUND"
  | "COMMAND_TIMEOUT"
  | "PROBE_TIMEOUT"
  | "PROBE_UNREACHABLE"
  | "PROBE_PARSE"
  | "HOST_KEY_MISMATCH"
  | "LOCK_NOT_HELD"
  | "REDIS_UNAVAILABLE"
  | "REDIS_NOT_INSTALLED"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNSAFE_VALUE"
  /** The CLI client could not reach the API, or the API answered 503. */
  | "API_UNAVAILABLE"
  /** The API refused a CLI request (401, 403, 404, 409, ...). */
  | "API_ERROR"
  /** Text that should be JSON is not (a config file, a request body); carries line and column. */
  | "JSON_INVALID";

export class NixGuardError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface ConfigIssue {
  /** JSON path such as `deployments.fediversity.hosts.mastodon.units[0]`. */
  path: string;
  message: string;
  /** The offending value, when there is one (never a secret: config holds file paths, not secrets). */
  value?: unknown;
  /** Where in the file (invalid JSON): 1-based line and column. */
  where?: { line: number; column: number };
}

export class ConfigError extends NixGuardError {
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;
  constructor(issues: ConfigIssue[], file?: string) {
    super("CONFIG_INVALID", formatIssues(issues, file));
    this.issues = issues;
    this.file = file;
  }
}

function formatIssues(issues: ConfigIssue[], file?: string): string {
  const head = `${file ?? "config"}: ${issues.length} error${issues.length === 1 ? "" : "s"}`;
  const lines = issues.map((i) => {
    const got = i.value === undefined ? "" : ` (got ${JSON.stringify(i.value)})`;
    return `  ${i.path || "(root)"}: ${i.message}${got}`;
  });
  return [head, ...lines].join("\n");
}

export interface CommandFailure {
  argv: readonly string[];
  exitCode?: number | undefined;
  signal?: string | undefined;
  stderrTail?: string | undefined;
}

export class CommandError extends NixGuardError {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string | undefined;
  constructor(
    code: "COMMAND_FAILED" | "COMMAND_NOT_FOUND" | "COMMAND_TIMEOUT",
    message: string,
    data: CommandFailure,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.argv = data.argv;
    this.exitCode = data.exitCode;
    this.signal = data.signal;
    this.stderrTail = data.stderrTail;
  }
}

export class ProbeError extends NixGuardError {}

export class UsageError extends NixGuardError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

export function isNixGuardError(e: unknown): e is NixGuardError {
  return e instanceof NixGuardError;
}

/** Exit codes from sysexits.h, which systemd and operators already know. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 64, UNAVAILABLE: 69, CONFIG: 78 } as const;
