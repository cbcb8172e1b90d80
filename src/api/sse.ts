import { once } from "node:events";
import type { FastifyReply } from "fastify";

/** Seconds between SSE comment lines: keeps proxies and idle timeouts from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

export interface SseStream {
  /** Resolves once written (waits for the socket to drain, so a slow client slows the producer). */
  send(event: string, data: unknown): Promise<void>;
  end(): void;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/**
 * Takes the response over from fastify (hijack) and speaks text/event-stream on it. Fastify's
 * serializers and error handler no longer apply: callers must catch their own errors and report
 * them as an `error` event.
 */
export function openSse(reply: FastifyReply): SseStream {
  reply.hijack();
  const res = reply.raw;
  const aborter = new AbortController();
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.flushHeaders();
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  keepalive.unref();
  const stop = () => {
    clearInterval(keepalive);
    aborter.abort();
  };
  res.on("close", stop);
  return {
    signal: aborter.signal,
    async send(event, data) {
      if (aborter.signal.aborted) return;
      // JSON never contains a raw newline, so one data: line carries the whole payload.
      const ok = res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (!ok) await once(res, "drain", { signal: aborter.signal }).catch(() => undefined);
    },
    end() {
      stop();
      if (!res.writableEnded) res.end();
    },
  };
}
