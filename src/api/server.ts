import type { FastifyInstance } from "fastify";
import { type AppDeps, buildApp } from "./app.js";

export const DEFAULT_LISTEN = "127.0.0.1:9273";

export interface ListeningApi {
  app: FastifyInstance;
  /** http://host:port actually bound (port 0 resolves to the real one). */
  url: string;
  close(): Promise<void>;
}

/** `HOST:PORT` or `[IPv6]:PORT`, as api.listen holds it (validated by the config schema). */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(i + 1)) };
}

/** The only place the API binds a socket; loopback by default so nothing is exposed by accident. */
export async function startServer(deps: AppDeps, listen: string = DEFAULT_LISTEN): Promise<ListeningApi> {
  const app = await buildApp(deps);
  const { host, port } = parseListen(listen);
  await app.listen({ host, port });
  const addr = app.server.address();
  const bound = typeof addr === "object" && addr ? addr.port : port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  deps.logger.info({ url }, "API listening");
  return { app, url, close: () => app.close() };
}
