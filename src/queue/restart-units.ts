import type { Redis } from "ioredis";
import { writeAll } from "../redis/fence.js";

// Takes the set and deletes it in one step: a unit added a moment later stays for the next run.
const TAKE = `
local units = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return units
`;

/**
 * The units asked for per restart key, not yet restarted. A restart job's key names the host, not
 * the units, so a second request for another unit coalesces into the waiting job (or becomes the
 * running job's follow-up, where each request overwrote the last): the job's own data kept only
 * one request's units and the rest were dropped without a word. Every request adds its units
 * here; the run that starts takes them all, so nothing requested is lost — a unit asked for while
 * a run is under way is taken by the follow-up.
 */
export class RestartUnits {
  private readonly base: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    queueName: string,
  ) {
    this.base = `${prefix}:${queueName}:ng:units:`;
  }

  /** Adds the request's units; returns every unit the next run of the key will restart. */
  async add(key: string, units: readonly string[]): Promise<string[]> {
    const k = this.base + key;
    // Fenced when the leader's planning asks (redis/fence.ts).
    const [, members] = await writeAll(this.redis, [
      ["SADD", k, ...units],
      ["SMEMBERS", k],
    ]);
    return [...((members as string[] | undefined) ?? units)].sort();
  }

  /** A run starts: every unit asked for so far, together with its own; the set is emptied. */
  async take(key: string, own: readonly string[]): Promise<string[]> {
    const taken = (await this.redis.eval(TAKE, 1, this.base + key)) as string[];
    return [...new Set([...own, ...taken])].sort();
  }

  /** Jobs of the key were cancelled (host removed): forget what was asked. */
  async drop(key: string): Promise<void> {
    await this.redis.del(this.base + key);
  }
}
