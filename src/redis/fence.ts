import { AsyncLocalStorage } from "node:async_hooks";
import type { Redis } from "ioredis";
import { NixGuardError } from "../errors.js";

/**
 * Fencing enforced by Redis. The leader's lease key holds its identity and every acquisition
 * increments the fence counter (leader.ts); a write made by the leader's planning carries both
 * and runs in one script that first compares them with what Redis holds. A leader frozen past
 * its lease (SIGSTOP, a suspended VM, a long GC pause) wakes with its old token: the lease has
 * expired or another process took it (the counter moved on), and every write it attempts is
 * refused with FENCED, whatever its own clock believes.
 */
export interface Fence {
  /** `<prefix>:leader`: the holder's identity, while the lease lasts. */
  leaseKey: string;
  /** `<prefix>:leader:fence`: incremented by every acquisition. */
  fenceKey: string;
  identity: string;
  token: number;
}

export const leaseKeys = (prefix: string) => ({
  leaseKey: `${prefix}:leader`,
  fenceKey: `${prefix}:leader:fence`,
});

/** A command as Redis takes it: name, then arguments. */
export type Cmd = [name: string, ...args: (string | number)[]];

/**
 * The fence rides with the planning pass's async context rather than through every signature:
 * whatever the pass writes — state store, event log, queue, through however many helpers — is
 * fenced, and a write added later cannot forget it. Writes outside a pass (API requests, job
 * outcomes recorded by the worker) are not the leader's planning and run unfenced.
 */
const scope = new AsyncLocalStorage<Fence>();

export function underFence<T>(fence: Fence | undefined, fn: () => Promise<T>): Promise<T> {
  return fence ? scope.run(fence, fn) : fn();
}

export function currentFence(): Fence | undefined {
  return scope.getStore();
}

/**
 * Prefixed to a script: refuse unless the lease still names the writer and the counter still
 * holds its token. The two fencing keys and arguments come last, so the script's own KEYS[i] and
 * ARGV[i] keep their numbers.
 */
const CHECK = `if redis.call('GET', KEYS[#KEYS - 1]) ~= ARGV[#ARGV - 1] or redis.call('GET', KEYS[#KEYS]) ~= ARGV[#ARGV] then
  return redis.error_reply('FENCED stale fencing token ' .. ARGV[#ARGV] .. ': the lease is no longer ours')
end
`;

/** Runs the commands of ARGV[1] (JSON), in order, and returns their replies. */
const RUN = `local out = {}
for i, c in ipairs(cjson.decode(ARGV[1])) do out[i] = redis.call(unpack(c)) end
return out`;

/** Redis refused a write: the fencing token it carried is stale (code FENCED). */
export function isFenced(err: unknown): boolean {
  if (err instanceof NixGuardError) return err.code === "FENCED";
  return err instanceof Error && err.message.startsWith("FENCED");
}

function fencedError(err: unknown): unknown {
  if (!(err instanceof Error) || !err.message.startsWith("FENCED")) return err;
  return new NixGuardError("FENCED", err.message.slice("FENCED ".length), { cause: err });
}

/**
 * `script` over `keys` and `args`, fenced when the caller runs under a fence (the keys it
 * touches are named in `keys`, as Redis asks of scripts).
 */
export async function evalWrite(
  redis: Redis,
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
  fence: Fence | undefined = currentFence(),
): Promise<unknown> {
  if (!fence) return redis.eval(script, keys.length, ...keys, ...args);
  try {
    return await redis.eval(
      CHECK + script,
      keys.length + 2,
      ...keys,
      fence.leaseKey,
      fence.fenceKey,
      ...args,
      fence.identity,
      String(fence.token),
    );
  } catch (err) {
    throw fencedError(err);
  }
}

/**
 * The keys `cmds` touch, as a script must name them: the first argument of each command (every
 * write used here takes its key first), and every argument of DEL.
 */
function keysOf(cmds: readonly Cmd[]): string[] {
  const keys = new Set<string>();
  for (const [name, ...args] of cmds) {
    const touched = name.toUpperCase() === "DEL" ? args : args.slice(0, 1);
    for (const k of touched) keys.add(String(k));
  }
  return [...keys];
}

/** Writes `cmds` all or none (MULTI; under a fence, one fenced script). Returns each command's reply. */
export async function writeAll(redis: Redis, cmds: readonly Cmd[]): Promise<unknown[]> {
  const fence = currentFence();
  if (fence) {
    const json = JSON.stringify(cmds.map((c) => c.map(String)));
    return (await evalWrite(redis, RUN, keysOf(cmds), [json], fence)) as unknown[];
  }
  const m = redis.multi();
  for (const [name, ...args] of cmds) m.call(name, ...args);
  const res = await m.exec();
  if (!res) throw new Error("redis transaction aborted");
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** One write command, fenced under a fence. */
export async function writeOne(redis: Redis, cmd: Cmd): Promise<unknown> {
  if (!currentFence()) {
    const [name, ...args] = cmd;
    return redis.call(name, ...args);
  }
  return (await writeAll(redis, [cmd]))[0];
}

/** Where an enqueue commits the job it added under a fence (the worker reads it). */
export const commitKey = (prefix: string, queue: string, jobId: string) =>
  `${prefix}:${queue}:ng:fenced:${jobId}`;

/**
 * A job added under a fence, as the worker sees it: committed (its enqueuer's token was still
 * current after the add), pending (not committed yet, and its enqueuer still holds the lease
 * with that token, so it may), or stale (never committed, and now it never can be: the counter
 * only goes up and the lease never comes back to the same token).
 */
const JOB_STATE = `if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[1] and redis.call('GET', KEYS[3]) == ARGV[2] then return 0 end
return -1`;

export async function jobFenceState(
  redis: Redis,
  prefix: string,
  queue: string,
  jobId: string,
  enqueuer: { identity: string; token: number },
): Promise<"committed" | "pending" | "stale"> {
  const { leaseKey, fenceKey } = leaseKeys(prefix);
  const r = await redis.eval(
    JOB_STATE,
    3,
    commitKey(prefix, queue, jobId),
    leaseKey,
    fenceKey,
    enqueuer.identity,
    String(enqueuer.token),
  );
  return r === 1 ? "committed" : r === 0 ? "pending" : "stale";
}
