import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { Client, type Dispatcher } from "undici";
import type { HttpCheck } from "../../config/desired.js";
import { type Abortable, Cancel } from "../cancel.js";
import type { HttpResult, ProbeResultKind } from "../types.js";
import { probeConnector, type TlsSeen, TlsVerifyError } from "./connect.js";
import { rawHeader } from "./raw-header.js";
import {
  expiredReason,
  formatDuration,
  networkErrorReason,
  notYetValidReason,
  tlsErrorReason,
} from "./reason.js";

/** Enough of a body to match a health page; the rest is not read. */
const MAX_BODY = 256 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const PROBE_DONE = new Error("probe done");
const PROBE_ABORTED = new Error("probe aborted");

interface Hop {
  status: number;
  location?: string;
  body: string;
}

/**
 * One HTTP check. Never throws: every outcome is a result with a short human reason. The token
 * of bearerTokenFile is read per probe (rotation needs no reload) and only ever sent, never
 * logged or put in a reason.
 */
export async function probeHttp(check: HttpCheck, signal: Abortable, now = Date.now): Promise<HttpResult> {
  const started = performance.now();
  // One Cancel and one timer rather than AbortSignal.any/timeout: cheaper, and no timer outlives
  // the probe.
  const deadline = new Cancel();
  const onAbort = () => deadline.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => deadline.abort(new Error("timeout")), check.timeoutMs);
  try {
    return await run(check, deadline, started, now);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

async function run(
  check: HttpCheck,
  deadline: Abortable,
  started: number,
  now: () => number,
): Promise<HttpResult> {
  const elapsed = () => performance.now() - started;
  const done = (result: ProbeResultKind, reason: string, extra: Partial<HttpResult> = {}): HttpResult => ({
    check: check.id,
    ok: result === "ok",
    result,
    durationMs: Math.round(elapsed() * 1000) / 1000,
    reason,
    ...extra,
  });

  let ca: Buffer | undefined;
  let token: string | undefined;
  try {
    if (check.caFile) ca = await readFile(check.caFile);
  } catch (e) {
    return done(
      "error",
      `cannot read caFile ${check.caFile}: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  try {
    if (check.bearerTokenFile) token = (await readFile(check.bearerTokenFile, "utf8")).trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return done("error", `cannot read bearerTokenFile ${check.bearerTokenFile}: ${code}`);
  }

  const origin = configuredUrl(check);
  let url = origin;
  let firstTls: TlsSeen | undefined;
  let hop: Hop | undefined;
  try {
    for (let hops = 0; ; hops++) {
      const seen: TlsSeen = {};
      if (!firstTls && url.protocol === "https:") firstTls = seen;
      // curl --resolve semantics: the override applies to the configured host and port only.
      const resolve = check.resolve && url.host === origin.host ? check.resolve : undefined;
      // The token goes to the configured origin only (curl's rule without --location-trusted): a
      // redirect to another host, port or scheme — an open redirect, an https → http hop — must
      // not carry it there.
      const auth = url.origin === origin.origin ? token : undefined;
      hop = await request(check, url, deadline, seen, { ca, token: auth, resolve });
      if (!check.followRedirects || !REDIRECTS.has(hop.status) || !hop.location) break;
      if (hops >= MAX_REDIRECTS) {
        return done(
          "fail",
          `${check.method} ${check.url}: more than ${MAX_REDIRECTS} redirects`,
          tlsExtra(firstTls),
        );
      }
      url = targetOf(new URL(hop.location, url.href));
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return done(
          "fail",
          `${check.method} ${check.url}: redirect to ${url.protocol} refused`,
          tlsExtra(firstTls),
        );
      }
    }
  } catch (e) {
    const extra = tlsExtra(firstTls);
    if (deadline.aborted) return done("timeout", `timeout after ${formatDuration(check.timeoutMs)}`, extra);
    if (e instanceof TlsVerifyError) {
      const t = firstTls ?? {};
      const at = now();
      if (e.tlsCode === "CERT_HAS_EXPIRED" && t.validTo)
        return done("fail", expiredReason(t.validTo, at), extra);
      if (e.tlsCode === "CERT_NOT_YET_VALID" && t.validFrom) {
        return done("fail", notYetValidReason(t.validFrom, at), extra);
      }
      return done("fail", tlsErrorReason(e.tlsCode), extra);
    }
    return done("error", `${check.method} ${url.href}: ${networkErrorReason(e)}`, extra);
  }

  const ms = formatDuration(elapsed());
  const head = `${check.method} ${url.href} → ${hop.status} in ${ms}`;
  const extra = { status: hop.status, ...tlsExtra(firstTls) };
  if (!check.expectStatus.includes(hop.status)) return done("fail", head, extra);
  if (check.expectBody !== undefined && !hop.body.includes(check.expectBody)) {
    return done("fail", `${head}, body lacks ${JSON.stringify(check.expectBody)}`, extra);
  }
  if (check.expectBodyRegex !== undefined && !new RegExp(check.expectBodyRegex).test(hop.body)) {
    return done("fail", `${head}, body does not match /${check.expectBodyRegex}/`, extra);
  }
  return done("ok", head, extra);
}

/** The parts of a URL a request needs, kept per check in place of a URL object. */
interface Target {
  href: string;
  protocol: string;
  host: string;
  hostname: string;
  origin: string;
  /** pathname + search, as sent on the request line. */
  path: string;
}

function targetOf(url: URL, href: string = url.href): Target {
  return {
    href,
    protocol: url.protocol,
    host: url.host,
    hostname: url.hostname,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
  };
}

/**
 * The check's URL, parsed once per HttpCheck object (a reload brings new ones): a URL per probe
 * was garbage on every HTTP check. Kept as a small record rather than the URL object: a URL and
 * its internal context are ~450 B, and every host keeps one per check for the process' life. The
 * check's own string stands for the href when parsing did not change it. Never mutated; a
 * redirect builds a new one.
 */
const parsedUrls = new WeakMap<HttpCheck, { src: string; target: Target }>();

function configuredUrl(check: HttpCheck): Target {
  const cached = parsedUrls.get(check);
  if (cached && cached.src === check.url) return cached.target;
  const url = new URL(check.url);
  const target = targetOf(url, url.href === check.url ? check.url : url.href);
  parsedUrls.set(check, { src: check.url, target });
  return target;
}

function tlsExtra(seen: TlsSeen | undefined): Partial<HttpResult> {
  return seen?.validTo !== undefined && !Number.isNaN(seen.validTo) ? { tlsExpiresAt: seen.validTo } : {};
}

async function request(
  check: HttpCheck,
  url: Target,
  signal: Abortable,
  seen: TlsSeen,
  o: { ca: Buffer | undefined; token: string | undefined; resolve: string | undefined },
): Promise<Hop> {
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  let socket: Socket | undefined;
  const client = new Client(url.origin, {
    connect: probeConnector({
      onSocket: (s) => {
        socket = s;
      },
      hostname,
      verify: check.tlsVerify,
      seen,
      ...(o.resolve ? { resolve: o.resolve } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    }),
    keepAliveTimeout: 1,
    // No undici timers (0 turns them off): the probe's deadline bounds the whole exchange, and
    // undici's timers keep the connection reachable through a WeakRef after they are cleared
    // (connect.ts says why that is costly).
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  // No `connection: close`: undici answers it with an error object per response; the connection
  // ends with the client anyway, so every probe still gets a fresh one.
  const headers: Record<string, string> = { "user-agent": "nixguard" };
  if (o.token) headers["authorization"] = `Bearer ${o.token}`;
  return new Promise<Hop>((resolve, reject) => {
    let over = false;
    const end = (err: Error | undefined) => {
      if (over) return;
      over = true;
      signal.removeEventListener("abort", kill);
      const hop = err ? undefined : exchange.hop();
      // The probe is over either way; a shared error object spares undici allocating one (and
      // its stack trace) per probe, which was a tenth of a probe's CPU. The answer waits for the
      // connection to be gone.
      void client
        .destroy(err ? PROBE_ABORTED : PROBE_DONE)
        .catch(() => {})
        .then(() => (hop ? resolve(hop) : reject(err)));
    };
    // The deadline ends the exchange by destroying the socket and the client, whatever phase it
    // is in (undici leaves a request pending while its connection is still being set up, e.g. a
    // TLS handshake the server never answers).
    const kill = () => {
      socket?.destroy();
      end(signal.reason instanceof Error ? signal.reason : PROBE_ABORTED);
    };
    const exchange = new Exchange(check, end);
    if (signal.aborted) {
      kill();
      return;
    }
    signal.addEventListener("abort", kill, { once: true });
    client.dispatch({ path: url.path, method: check.method, headers }, exchange);
  });
}

/**
 * One request as undici's dispatch callbacks deliver it, with no response stream: the status, a
 * Location header, and the body only when the check reads it (up to MAX_BODY). `client.request`
 * wraps the same callbacks in a handler, a Readable body and its state per probe — as much CPU
 * as the rest of undici's side of a probe, for a body the check usually drops.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private location: string | undefined = undefined;
  private chunks: Buffer[] | undefined = undefined;
  private size = 0;

  constructor(
    private readonly check: HttpCheck,
    private readonly end: (err: Error | undefined) => void,
  ) {}

  onConnect(): void {}

  onHeaders(status: number, raw: Buffer[]): boolean {
    this.status = status;
    // Several Location headers ("") leave the redirect unfollowable, as a missing one does.
    this.location = rawHeader(raw, "location");
    const c = this.check;
    if (
      c.method !== "HEAD" &&
      c.expectStatus.includes(status) &&
      (c.expectBody !== undefined || c.expectBodyRegex !== undefined)
    ) {
      this.chunks = [];
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.chunks) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      // Enough to judge: the rest is not read.
      if (this.size >= MAX_BODY) this.end(undefined);
    }
    return true;
  }

  onComplete(): void {
    this.end(undefined);
  }

  onError(err: Error): void {
    this.end(err);
  }

  hop(): Hop {
    const body = this.chunks ? Buffer.concat(this.chunks).subarray(0, MAX_BODY).toString("utf8") : "";
    return { status: this.status, body, ...(this.location ? { location: this.location } : {}) };
  }
}
