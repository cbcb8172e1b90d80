import { readFile } from "node:fs/promises";
import { Client } from "undici";
import type { HttpCheck } from "../../config/desired.js";
import type { HttpResult, ProbeResultKind } from "../types.js";
import { probeConnector, type TlsSeen, TlsVerifyError } from "./connect.js";
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
export async function probeHttp(check: HttpCheck, signal: AbortSignal, now = Date.now): Promise<HttpResult> {
  const started = performance.now();
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(check.timeoutMs)]);
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

  const origin = new URL(check.url);
  let url = origin;
  let firstTls: TlsSeen | undefined;
  let hop: Hop | undefined;
  try {
    for (let hops = 0; ; hops++) {
      const seen: TlsSeen = {};
      if (!firstTls && url.protocol === "https:") firstTls = seen;
      // curl --resolve semantics: the override applies to the configured host and port only.
      const resolve = check.resolve && url.host === origin.host ? check.resolve : undefined;
      hop = await request(check, url, deadline, seen, { ca, token, resolve });
      if (!check.followRedirects || !REDIRECTS.has(hop.status) || !hop.location) break;
      if (hops >= MAX_REDIRECTS) {
        return done(
          "fail",
          `${check.method} ${check.url}: more than ${MAX_REDIRECTS} redirects`,
          tlsExtra(firstTls),
        );
      }
      url = new URL(hop.location, url);
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

function tlsExtra(seen: TlsSeen | undefined): Partial<HttpResult> {
  return seen?.validTo !== undefined && !Number.isNaN(seen.validTo) ? { tlsExpiresAt: seen.validTo } : {};
}

async function request(
  check: HttpCheck,
  url: URL,
  signal: AbortSignal,
  seen: TlsSeen,
  o: { ca: Buffer | undefined; token: string | undefined; resolve: string | undefined },
): Promise<Hop> {
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const client = new Client(url.origin, {
    connect: probeConnector({
      hostname,
      verify: check.tlsVerify,
      connectTimeoutMs: check.timeoutMs,
      seen,
      ...(o.resolve ? { resolve: o.resolve } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    }),
    pipelining: 0,
    keepAliveTimeout: 1,
  });
  try {
    const headers: Record<string, string> = { "user-agent": "nixguard", connection: "close" };
    if (o.token) headers["authorization"] = `Bearer ${o.token}`;
    const res = await client.request({
      path: `${url.pathname}${url.search}`,
      method: check.method,
      headers,
      signal,
    });
    const location = typeof res.headers["location"] === "string" ? res.headers["location"] : undefined;
    const wantBody =
      check.method !== "HEAD" &&
      check.expectStatus.includes(res.statusCode) &&
      (check.expectBody !== undefined || check.expectBodyRegex !== undefined);
    let body = "";
    if (wantBody) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        chunks.push(chunk as Buffer);
        size += (chunk as Buffer).length;
        if (size >= MAX_BODY) break;
      }
      body = Buffer.concat(chunks).subarray(0, MAX_BODY).toString("utf8");
    } else {
      res.body.resume();
    }
    return { status: res.statusCode, body, ...(location ? { location } : {}) };
  } finally {
    await client.destroy().catch(() => {});
  }
}
