import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type HookHandlerDoneFunction,
  LogController,
} from "fastify";
import { parseJsonText } from "../json-text.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { VERSION } from "../version.js";
import { type ApiToken, authHook, type RouteAuth } from "./auth.js";
import type { ControlPlane } from "./control-plane-port.js";
import { toHttpError } from "./http-error.js";
import { lazyChildLogger } from "./request-logger.js";
import { controlRoutes } from "./routes/control.js";
import { deploymentRoutes } from "./routes/deployments.js";
import { eventRoutes } from "./routes/events.js";
import { hostRoutes } from "./routes/hosts.js";
import { jobRoutes } from "./routes/jobs.js";
import { systemRoutes } from "./routes/system.js";
import { validatorCompiler } from "./validation.js";

export interface ApiConfig {
  metricsAuth: boolean;
  bodyLimit: number;
  /** Per token (or client address when unauthenticated) on mutating routes; window in ms. */
  rateLimit: { max: number; window: number };
}

export interface AppDeps {
  control: ControlPlane;
  metrics: Metrics;
  tokens: ApiToken[];
  logger: Logger;
  config: ApiConfig;
}

/** Route plugins receive the control plane and metrics through these options. */
export interface RouteOptions {
  control: ControlPlane;
  metrics: Metrics;
  metricsAuth: boolean;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  auth: RouteAuth;
}
const routeTables = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route buildApp registered with the auth it demands; the route-table test walks it. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return routeTables.get(app) ?? [];
}

function emptyBodyAsObject(req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (req.method === "POST" && req.body === undefined) req.body = {};
  done();
}

/** Logs the path only: a query string is the one place a careless client could put a secret. */
function requestSerializer(req: FastifyRequest) {
  return { method: req.method, url: req.url.split("?")[0], remoteAddress: req.ip };
}

/**
 * Builds the whole API without listening (fastify's app/server split): tests inject requests,
 * server.ts listens. Auth is one onRequest hook reading each route's `config.auth`; every POST is
 * rate limited; errors all pass through toHttpError.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const log = deps.logger.child({ component: "api" }, { serializers: { req: requestSerializer } });
  const app = Fastify({
    loggerInstance: log,
    // One access line per response (onResponse below) rather than fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: deps.config.bodyLimit,
    trustProxy: false,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  // Bad JSON answers in NixGuard's error shape with its line and column, not fastify's
  // FST_ERR_CTP_INVALID_JSON_BODY; an empty body is `{}` (see emptyBodyAsObject). JSON is the only
  // body accepted (fastify would also take text/plain): anything else is 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
    const body = text as string;
    if (body.trim() === "") return done(null, undefined);
    try {
      done(null, parseJsonText(body));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  const table: RegisteredRoute[] = [];
  routeTables.set(app, table);
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method !== "HEAD") table.push({ method, url: route.url, auth: route.config?.auth ?? "admin" });
    }
    if (methods.includes("POST")) {
      route.config = {
        ...route.config,
        rateLimit: { max: deps.config.rateLimit.max, timeWindow: deps.config.rateLimit.window },
      } as typeof route.config;
      // Commands may be POSTed without a body (`curl -X POST`); validate them as `{}`. On POST
      // routes only: a hook every GET ran for nothing.
      const own = route.preValidation;
      route.preValidation = [
        emptyBodyAsObject,
        ...(own === undefined ? [] : Array.isArray(own) ? own : [own]),
      ];
    }
    if (route.schema && route.config?.auth !== "public") {
      route.schema = { ...route.schema, security: [{ bearer: [] }] } as typeof route.schema;
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "NixGuard API", version: VERSION },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
  });
  await app.register(rateLimit, {
    global: false,
    // After auth, so the limit is per token rather than per address.
    hook: "preHandler",
    keyGenerator: (req) => (req.principal ? `token:${req.principal.name}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: "RATE_LIMITED",
      message: `rate limit: ${ctx.max} commands per ${ctx.after}`,
    }),
  });

  app.addHook("onRequest", authHook(deps.tokens));
  // Callback style, as every hook a GET runs: no promise per request.
  app.addHook("onResponse", (req, reply, done) => {
    const post = req.method === "POST";
    if (!post && !log.isLevelEnabled("debug")) {
      done();
      return;
    }
    const line = {
      method: req.method,
      // The raw path only for a request that succeeded: a refused one (401, 404, 400 …) may carry
      // a token a client pasted into the path, so it is logged by its route pattern instead.
      url: reply.statusCode < 400 ? req.url.split("?")[0] : (req.routeOptions.url ?? "(no route)"),
      status: reply.statusCode,
      actor: req.principal?.name,
    };
    if (post) req.log.info(line, "command");
    else req.log.debug(line, "request");
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const body = toHttpError(err);
    if (body.statusCode >= 500) req.log.error({ err }, "request failed");
    if (body.statusCode === 503) reply.header("Retry-After", "5");
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      statusCode: 404,
      code: "NOT_FOUND",
      message: `no route ${req.method} ${req.url.split("?")[0]}`,
    }),
  );

  const opts: RouteOptions = {
    control: deps.control,
    metrics: deps.metrics,
    metricsAuth: deps.config.metricsAuth,
  };
  await app.register(systemRoutes, opts);
  await app.register(
    async (api) => {
      await api.register(controlRoutes, opts);
      await api.register(deploymentRoutes, opts);
      await api.register(hostRoutes, opts);
      await api.register(jobRoutes, opts);
      await api.register(eventRoutes, opts);
    },
    { prefix: "/api/v1" },
  );
  app.get("/openapi.json", { config: { auth: "public" }, schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
