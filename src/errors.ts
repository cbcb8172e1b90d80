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
  | "JSON_INVALID"
  /** A job the CLI followed did not succeed; `exitCode` says how it ended. */
  | "JOB_UNSUCCESSFUL"
  /** `nixguard status`: the fleet is not healthy (for scripts and monitoring). */
  | "FLEET_UNHEALTHY"
  /** Redis refused a write of the leader's planning: its fencing token is stale (redis/fence.ts). */
  | "FENCED";

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

/**
 * Exit codes: 0 ok; 1 failure (the API refused, a followed job failed); 2 `status` found the fleet
 * unhealthy; 3 a followed job was cancelled; 4 a followed job timed out; then sysexits.h, which
 * systemd and operators already know: 64 usage, 69 unavailable, 78 config.
 */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  UNHEALTHY: 2,
  JOB_CANCELLED: 3,
  JOB_TIMEOUT: 4,
  USAGE: 64,
  UNAVAILABLE: 69,
  CONFIG: 78,
} as const;

/** A command that ends with a particular exit code and a message (the CLI's verdicts). */
export class ExitError extends NixGuardError {
  readonly exitCode: number;
  constructor(code: "JOB_UNSUCCESSFUL" | "FLEET_UNHEALTHY", exitCode: number, message: string) {
    super(code, message);
    this.exitCode = exitCode;
  }
}

/** The exit code of an error a command threw (see EXIT). */
export function exitCodeOf(e: unknown): number {
  if (e instanceof ExitError) return e.exitCode;
  if (!isNixGuardError(e)) return EXIT.FAILURE;
  if (e.code === "CONFIG_INVALID" || e.code === "CONFIG_READ") return EXIT.CONFIG;
  if (e.code === "USAGE") return EXIT.USAGE;
  if (e.code === "REDIS_UNAVAILABLE" || e.code === "REDIS_NOT_INSTALLED" || e.code === "API_UNAVAILABLE")
    return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}
