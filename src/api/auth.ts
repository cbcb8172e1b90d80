import { hash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import type { Config } from "../config/schema.js";
import { tokenName } from "../config/token-name.js";
import { NixGuardError } from "../errors.js";
import type { Logger } from "../log.js";

export type TokenScope = "read" | "admin";
/** What a route demands; routes without `config.auth` demand admin (fail closed). */
export type RouteAuth = "public" | TokenScope;

/** A loaded token: only its SHA-256 digest is kept, so a heap dump or log of it reveals nothing usable. */
export interface ApiToken {
  name: string;
  scope: TokenScope;
  digest: Buffer;
}

export interface Principal {
  name: string;
  scope: TokenScope;
}

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

// One-shot: a Hash object per request (createHash/update/digest) was most of authentication's cost.
const digestOf = (secret: string): Buffer => hash("sha256", secret, "buffer");

export function makeToken(name: string, scope: TokenScope, secret: string): ApiToken {
  return { name, scope, digest: digestOf(secret) };
}

/**
 * Reads the token files (systemd credentials). A missing or empty file is an error that names the
 * file; a file others can read is a warning, not an error, since the credential may live on a
 * read-only mount the operator cannot chmod.
 */
export function loadTokens(specs: Config["api"]["tokens"], logger: Logger): ApiToken[] {
  return specs.map((spec, i) => {
    const name = tokenName(spec, i);
    let text: string;
    try {
      const mode = statSync(spec.file).mode;
      if ((mode & 0o044) !== 0) {
        logger.warn(
          { file: spec.file, mode: `0${(mode & 0o777).toString(8)}`, tokenName: name },
          "API token file is readable by group or others; chmod 0600 it",
        );
      }
      text = readFileSync(spec.file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
      throw new NixGuardError(
        "CONFIG_READ",
        `api.tokens[${i}]: cannot read token file ${spec.file} (${code})`,
        {
          cause: e,
        },
      );
    }
    const secret = text.trim();
    if (secret.length === 0) {
      throw new NixGuardError("CONFIG_READ", `api.tokens[${i}]: token file ${spec.file} is empty`);
    }
    return makeToken(name, spec.scope, secret);
  });
}

/**
 * Finds the token presented. Every token is compared (no early exit) and each comparison is
 * timingSafeEqual on equal-length SHA-256 digests, so timing reveals neither the match nor a prefix.
 */
export function authenticate(tokens: readonly ApiToken[], header: string | undefined): Principal | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const presented = digestOf(m[1]!);
  let found: ApiToken | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(t.digest, presented) && !found) found = t;
  }
  return found ? { name: found.name, scope: found.scope } : undefined;
}

/**
 * The one onRequest hook: the route's `config.auth` says what it needs. Callback style (no promise
 * per request); a refusal is sent from here and `done` is then not called, as fastify's hooks
 * require.
 */
export function authHook(tokens: readonly ApiToken[]) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const needed: RouteAuth = req.routeOptions.config?.auth ?? "admin";
    if (needed === "public") {
      done();
      return;
    }
    const principal = authenticate(tokens, req.headers.authorization);
    if (!principal) {
      reply.header("WWW-Authenticate", 'Bearer realm="nixguard"');
      reply
        .code(401)
        .send({ statusCode: 401, code: "UNAUTHORIZED", message: "missing or invalid bearer token" });
      return;
    }
    req.principal = principal;
    if (needed === "admin" && principal.scope !== "admin") {
      reply.code(403).send({
        statusCode: 403,
        code: "FORBIDDEN",
        message: `token "${principal.name}" has scope read; this needs admin`,
      });
      return;
    }
    done();
  };
}
