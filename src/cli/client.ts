import { readFileSync } from "node:fs";
import type { HttpErrorBody } from "../api/http-error.js";
import { exitCodeOf, NixGuardError, UsageError } from "../errors.js";
import { readSse, type SseEvent } from "./sse.js";

export const DEFAULT_URL = "http://127.0.0.1:9273";

/**
 * The command-line names of the API fields the CLI fills in: a refused value is reported as the
 * option a person typed (`--limit`), not as the request field (`querystring.limit`).
 */
const OPTION_OF_FIELD: Record<string, string> = {
  "body.scope": "--host/--deployment",
  "body.reason": "--reason",
  "body.until": "--until",
  "body.deployments": "DEPLOYMENT",
  "querystring.limit": "--limit",
  "querystring.since": "--since",
  "querystring.state": "--state",
  "querystring.deployment": "--deployment",
  "querystring.host": "--host",
  "params.name": "the name",
  "params.unit": "UNIT",
  "params.id": "JOB",
};

function optionOf(field: string): string {
  return OPTION_OF_FIELD[field] ?? OPTION_OF_FIELD[field.replace(/\[\d+\]$/, "")] ?? field;
}

/** An API answer other than 2xx; `status` and the body's `code`/`reason` travel with it. */
export class ApiError extends NixGuardError {
  readonly status: number;
  readonly body: Partial<HttpErrorBody>;
  constructor(status: number, body: Partial<HttpErrorBody>) {
    const code = status === 503 ? "API_UNAVAILABLE" : status === 400 ? "USAGE" : "API_ERROR";
    const detail = body.reason ? ` (${body.reason})` : "";
    let message = body.message ?? body.code ?? "error";
    if (body.field && message.startsWith(`${body.field}:`))
      message = `${optionOf(body.field)}:${message.slice(body.field.length + 1)}`;
    super(code, `${status} ${message}${detail}`);
    this.status = status;
    this.body = body;
  }
}

/** The exit code of an error a client command threw (one mapping for the whole CLI: errors.ts). */
export const clientExitCode = exitCodeOf;

export interface ClientOptions {
  url?: string;
  tokenFile?: string;
}

/** Token from --token-file, else NIXGUARD_TOKEN; URL from --url, else NIXGUARD_URL, else loopback. */
export function resolveClient(opts: ClientOptions, env: NodeJS.ProcessEnv): ApiClient {
  const url = (opts.url ?? env["NIXGUARD_URL"] ?? DEFAULT_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s]+$/.test(url))
    throw new UsageError(`NIXGUARD_URL: expected an http(s) URL, got ${JSON.stringify(url)}`);
  let token = env["NIXGUARD_TOKEN"];
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, "utf8").trim();
    } catch (e) {
      throw new UsageError(
        `--token-file ${opts.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`,
      );
    }
  }
  token = token?.trim();
  // Every /api/v1 route needs a token: say so here rather than send a request bound to be refused.
  if (!token)
    throw new UsageError(
      "no API token: set the environment variable NIXGUARD_TOKEN to the token, or pass --token-file FILE",
    );
  return new ApiClient(url, token);
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: object = {}): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** Server-Sent Events of one GET until the server ends the stream or `signal` aborts. */
  async *events(path: string, signal?: AbortSignal): AsyncIterable<SseEvent> {
    const res = await this.send("GET", path, undefined, { accept: "text/event-stream" }, signal);
    if (!res.ok) throw await this.failure(res);
    if (!res.body) return;
    yield* readSse(res.body);
  }

  private async request<T>(method: string, path: string, body?: object): Promise<T> {
    const res = await this.send(method, path, body, { accept: "application/json" });
    if (!res.ok) throw await this.failure(res);
    return (await res.json()) as T;
  }

  private async send(
    method: string,
    path: string,
    body: object | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const all: Record<string, string> = { ...headers };
    all["authorization"] = `Bearer ${this.token}`;
    if (body) all["content-type"] = "application/json";
    try {
      return await fetch(`${this.url}${path}`, {
        method,
        headers: all,
        ...(body ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new NixGuardError("API_UNAVAILABLE", `cannot reach the NixGuard API at ${this.url} (${cause})`, {
        cause: e,
      });
    }
  }

  private async failure(res: Response): Promise<ApiError> {
    let body: Partial<HttpErrorBody> = {};
    try {
      body = (await res.json()) as Partial<HttpErrorBody>;
    } catch {}
    return new ApiError(res.status, body);
  }
}
