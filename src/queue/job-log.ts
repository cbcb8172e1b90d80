import { StringDecoder } from "node:string_decoder";
import type { Redis } from "ioredis";
import { TailBuffer } from "../exec/tail.js";

/**
 * A job's stdout+stderr, kept in Redis so any process (the API on another machine) can read or
 * follow it. Only the last `limitBytes` are kept: the Redis string is trimmed back to the limit
 * whenever it grows a quarter past it (amortised, so a chatty nixops4 does not make Redis copy
 * a mebibyte per line). A meta hash counts every byte ever appended, which lets a follower
 * resume at its offset even after trimming moved the start.
 */
export interface JobLogOptions {
  limitBytes?: number;
  /** Logs expire this long after their last write (bounded retention). */
  ttlSeconds?: number;
  /** How often follow() polls. */
  pollMs?: number;
}

const APPEND = `
local n = redis.call('APPEND', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'total', string.len(ARGV[1]))
local limit = tonumber(ARGV[2])
if n > limit + math.floor(limit / 4) then
  redis.call('SET', KEYS[1], redis.call('GETRANGE', KEYS[1], -limit, -1))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n`;

// Returns { total, closed, bytes from `offset` on } in one atomic read.
const READ_FROM = `
local len = redis.call('STRLEN', KEYS[1])
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local closed = redis.call('HGET', KEYS[2], 'closed') or ''
local from = tonumber(ARGV[1]) - (total - len)
if from < 0 then from = 0 end
local data = ''
if from < len then data = redis.call('GETRANGE', KEYS[1], from, len - 1) end
return { tostring(total), closed, data }`;

export class JobLogStore {
  readonly limitBytes: number;
  private readonly ttlSeconds: number;
  private readonly pollMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    opts: JobLogOptions = {},
  ) {
    this.limitBytes = opts.limitBytes ?? 1024 * 1024;
    this.ttlSeconds = opts.ttlSeconds ?? 7 * 24 * 3600;
    this.pollMs = opts.pollMs ?? 250;
  }

  private keys(jobId: string): [string, string] {
    return [`${this.prefix}:job-log:${jobId}`, `${this.prefix}:job-log:${jobId}:meta`];
  }

  async append(jobId: string, chunk: string | Buffer): Promise<void> {
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return;
    if (data.length > this.limitBytes) data = data.subarray(data.length - this.limitBytes);
    await this.redis.eval(APPEND, 2, ...this.keys(jobId), data, this.limitBytes, this.ttlSeconds);
  }

  /** The kept tail of the log ("" when there is none). */
  async read(jobId: string): Promise<string> {
    const [key] = this.keys(jobId);
    return (await this.redis.getrangeBuffer(key, -this.limitBytes, -1)).toString("utf8");
  }

  async isClosed(jobId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys(jobId)[1], "closed")) === "1";
  }

  /**
   * Calls `onChunk` with the log as it grows, from the kept start. Resolves once the log is
   * closed (the job ended) and everything was delivered, or when `signal` aborts.
   */
  async follow(jobId: string, onChunk: (s: string) => void, signal: AbortSignal): Promise<void> {
    const decoder = new StringDecoder("utf8");
    let offset = 0;
    while (!signal.aborted) {
      const reply = (await this.redis.callBuffer(
        "EVAL",
        READ_FROM,
        2,
        ...this.keys(jobId),
        offset,
      )) as Buffer[];
      const total = Number(reply[0]?.toString() ?? "0");
      const closed = reply[1]?.toString() === "1";
      const data = reply[2] ?? Buffer.alloc(0);
      if (data.length > 0) {
        const text = decoder.write(data);
        if (text) onChunk(text);
      }
      offset = total;
      if (closed) {
        const rest = decoder.end();
        if (rest) onChunk(rest);
        return;
      }
      await sleep(this.pollMs, signal);
    }
  }

  /** The job ended: followers finish; the log expires after the TTL. */
  async close(jobId: string): Promise<void> {
    const [key, meta] = this.keys(jobId);
    await this.redis
      .multi()
      .hset(meta, "closed", "1")
      .expire(meta, this.ttlSeconds)
      .expire(key, this.ttlSeconds)
      .exec();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Batches a child's output into the store: at most one append in flight, flushed every
 * `flushMs`, and never more than `limitBytes` held in memory between flushes (older bytes are
 * dropped, as the store would trim them anyway). A 100 MB flood costs a bounded buffer.
 */
export class JobLogWriter {
  private buffer: TailBuffer;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending = false;

  constructor(
    private readonly store: JobLogStore,
    private readonly jobId: string,
    private readonly onError: (err: unknown) => void,
    private readonly flushMs = 250,
  ) {
    this.buffer = new TailBuffer(store.limitBytes);
  }

  write(chunk: Buffer | string): void {
    this.buffer.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    this.pending = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
  }

  flush(): Promise<void> {
    if (!this.pending) return this.chain;
    const data = this.buffer.toBuffer();
    this.buffer = new TailBuffer(this.store.limitBytes);
    this.pending = false;
    this.chain = this.chain.then(() => this.store.append(this.jobId, data)).catch(this.onError);
    return this.chain;
  }

  /** Flushes what is left; `close` also marks the log ended. */
  async end(close: boolean): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    if (close) await this.store.close(this.jobId).catch(this.onError);
  }
}
