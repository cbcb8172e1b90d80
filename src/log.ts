import pino, { type Logger } from "pino";

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever they appear: tokens, keys and secret file
 * contents must never reach a log line, even when a whole request or config object is logged.
 */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "tokens[*].value",
  "*.tokens[*].value",
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "secret",
  "*.secret",
  "password",
  "*.password",
  // Not "key": action keys (restart__fedi__web1) are logged on purpose; key material is "privateKey".
  "privateKey",
  "*.privateKey",
];

export interface LogOptions {
  level?: string;
  format?: "json" | "pretty";
  /** Where lines go; defaults to stdout (journald picks it up). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env["NIXGUARD_LOG_LEVEL"] ?? "info";
  const base = {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { service: "nixguard" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.format === "pretty") {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { colorize: process.stdout.isTTY, translateTime: "SYS:HH:MM:ss" },
      },
    });
  }
  return opts.destination ? pino(base, opts.destination as pino.DestinationStream) : pino(base);
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger = (): Logger => pino({ level: "silent" });
