import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from "pino";

type Log = (...args: unknown[]) => void;

/**
 * A request's logger, made only when the request logs something. fastify makes a pino child per
 * request for its reqId binding, and pino runs every binding through the redaction paths (ours
 * start with wildcards, so all of them do): at 2,000 requests/s that was ~3 % of the API's CPU
 * (bench/api-latency.ts under perf) for requests that, at the default level, log nothing. A call
 * at a disabled level costs a level check; the first enabled one makes the child.
 */
export class RequestLogger {
  private made: FastifyBaseLogger | undefined = undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}

  private get real(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings);
    return this.made;
  }

  get level(): LevelWithSilentOrString {
    return (this.made ?? this.parent).level;
  }

  set level(level: LevelWithSilentOrString) {
    this.real.level = level;
  }

  isLevelEnabled(level: string): boolean {
    // Every logger here is pino's, whose loggers all have isLevelEnabled (fastify's type omits it).
    const l = (this.made ?? this.parent) as unknown as { isLevelEnabled(level: string): boolean };
    return l.isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }

  private emit(level: "fatal" | "error" | "warn" | "info" | "debug" | "trace", args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.real[level] as Log)(...args);
  }

  fatal(...args: unknown[]): void {
    this.emit("fatal", args);
  }
  error(...args: unknown[]): void {
    this.emit("error", args);
  }
  warn(...args: unknown[]): void {
    this.emit("warn", args);
  }
  info(...args: unknown[]): void {
    this.emit("info", args);
  }
  debug(...args: unknown[]): void {
    this.emit("debug", args);
  }
  trace(...args: unknown[]): void {
    this.emit("trace", args);
  }
  silent(): void {}
}

/**
 * fastify's childLoggerFactory: a RequestLogger, or a child made at once when the route sets a
 * level or serializers of its own (NixGuard's routes set neither).
 */
export const lazyChildLogger = (
  logger: FastifyBaseLogger,
  bindings: Bindings,
  opts: ChildLoggerOptions,
): FastifyBaseLogger =>
  opts.level !== undefined || opts.serializers !== undefined
    ? logger.child(bindings, opts)
    : (new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger);
