import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { actionKey } from "../action.js";
import type { DeploymentSpec } from "../config/desired.js";
import type { Logger } from "../log.js";
import { type Cmd, evalWrite, writeAll, writeOne } from "../redis/fence.js";
import type { HostGenerations } from "./generations.js";
import type { HoldEntry } from "./hold.js";
import type { InFlightEntry } from "./policy/inflight.js";
import {
  type BackoffState,
  type Pause,
  type PauseScope,
  type QuarantineEntry,
  scopeKey,
} from "./policy/types.js";
import { PolicyMirror, type PolicyRecords } from "./policy-mirror.js";
import type { PolicyState } from "./policy-state.js";

export interface BreakerRecord {
  open: boolean;
  since: number;
  bad: number;
  total: number;
}

/**
 * The controller's memory in Redis: attempts, backoff, budgets, quarantines, pauses, recorded
 * generations, in-flight actions and settle deadlines. Redis rather than process memory so a
 * restart or a failover to another NixGuard loses nothing. Every key starts with `<prefix>:ctl:`.
 * Every write goes through redis/fence.ts: inside the leader's planning pass Redis refuses it
 * when the pass's fencing token is stale.
 */
export class StateStore {
  private readonly p: string;
  private mirror: PolicyMirror | undefined;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.p = `${prefix}:ctl`;
  }

  private k = {
    attempts: (key: string) => `${this.p}:attempts:${key}`,
    budgetDeployment: (deployment: string) => `${this.p}:budget:d:${deployment}`,
    budgetGlobal: () => `${this.p}:budget:global`,
    backoff: () => `${this.p}:backoff`,
    quarantine: () => `${this.p}:quarantine`,
    pauses: () => `${this.p}:pauses`,
    generation: () => `${this.p}:generation`,
    generationPending: () => `${this.p}:generation-pending`,
    inflight: (deployment: string) => `${this.p}:inflight:${deployment}`,
    settle: () => `${this.p}:settle`,
    /** Per deployment: action key → until when it settles (only keys still settling). */
    settling: (deployment: string) => `${this.p}:settling:${deployment}`,
    drift: () => `${this.p}:drift`,
    breaker: () => `${this.p}:breaker`,
    memory: () => `${this.p}:generations`,
    holds: () => `${this.p}:hold`,
    causes: (deployment: string) => `${this.p}:causes:${deployment}`,
    /** Pub/sub: every write of pauses, quarantines or drift is announced here (PolicyMirror). */
    policyChannel: () => `${this.p}:policy-changed`,
  };

  /**
   * Serves policyRecords() from memory, kept current through `subscriber` (a connection of its
   * own, subscribed to the channel this store announces its writes on). Returns the mirror so the
   * caller can close it with the connection.
   */
  mirrorPolicy(subscriber: Redis, logger?: Logger): PolicyMirror {
    this.mirror?.close();
    this.mirror = new PolicyMirror({
      fetch: () => this.fetchPolicy(),
      subscriber,
      channel: this.k.policyChannel(),
      ...(logger ? { logger } : {}),
    });
    return this.mirror;
  }

  /** Pauses, quarantines and drift as stored (expiry not applied); from memory when mirrored. */
  policyRecords(): Promise<PolicyRecords> {
    return this.mirror ? this.mirror.read() : this.fetchPolicy();
  }

  private async fetchPolicy(): Promise<PolicyRecords> {
    const [pauses, quarantines, drift] = (await exec(
      this.redis.pipeline().hgetall(this.k.pauses()).hgetall(this.k.quarantine()).hgetall(this.k.drift()),
    )) as Record<string, string>[];
    return {
      pauses: Object.values(pauses ?? {}).map((json) => JSON.parse(json) as Pause),
      quarantines: Object.values(quarantines ?? {}).map((json) => JSON.parse(json) as QuarantineEntry),
      drift: Object.fromEntries(Object.entries(drift ?? {}).map(([k, v]) => [k, Number(v)])),
    };
  }

  /**
   * Runs a write of pauses, quarantines or drift, drops this process's mirrored copy (so a read
   * after the write returns sees it) and announces the write to other processes' mirrors. The
   * announcement is a command of its own, after the write: a Redis ACL user without channel
   * rights (Redis 7's default for new users) would make a PUBLISH inside the MULTI abort the
   * write itself. Such a user cannot SUBSCRIBE either, so no mirror is live and every read goes
   * to Redis. A process that dies between the write and the announcement leaves other mirrors
   * stale until their next invalidation or reconnect.
   */
  private async policyWrite(cmds: Cmd[]): Promise<unknown[]> {
    try {
      return await writeAll(this.redis, cmds);
    } finally {
      this.mirror?.invalidate();
      // Also after a failed write (it may have landed before the connection dropped). Not awaited:
      // with Redis down it would hold the write's answer through the client's retries.
      void this.redis.publish(this.k.policyChannel(), "1").catch(() => undefined);
    }
  }

  /** Everything the gates and the ladder read about one deployment, in one round trip. */
  async load(deployment: DeploymentSpec): Promise<PolicyState> {
    const keys = attemptKeys(deployment);
    const hostKeys = deployment.hosts.map((h) => `${deployment.name}/${h.name}`);
    const pipe = this.redis.pipeline();
    // Every attempts set in one command: a pass over a 100-host deployment read 201 sorted sets,
    // one command each, and ioredis' per-command cost made load() a twentieth of NixGuard's CPU.
    pipe.eval(ZRANGE_EACH, keys.length, ...keys.map((key) => this.k.attempts(key)));
    pipe.zrange(this.k.budgetDeployment(deployment.name), 0, -1, "WITHSCORES");
    pipe.zrange(this.k.budgetGlobal(), 0, -1, "WITHSCORES");
    pipe.hgetall(this.k.backoff());
    pipe.hgetall(this.k.quarantine());
    pipe.hgetall(this.k.pauses());
    pipe.hgetall(this.k.inflight(deployment.name));
    pipe.hget(this.k.settle(), deployment.name);
    pipe.hmget(this.k.generation(), ...hostKeys);
    pipe.hmget(this.k.generationPending(), ...hostKeys);
    pipe.hmget(this.k.memory(), ...hostKeys);
    pipe.hmget(this.k.holds(), ...hostKeys);
    const out = await exec(pipe);
    let i = 0;
    const next = () => out[i++];

    const attempts: Record<string, number[]> = {};
    const each = next() as string[][];
    keys.forEach((key, j) => {
      const times = scores(each[j] ?? []);
      if (times.length > 0) attempts[key] = times;
    });
    const budget = { deployment: scores(next() as string[]), global: scores(next() as string[]) };
    const backoff: Record<string, BackoffState> = {};
    for (const [key, json] of Object.entries(next() as Record<string, string>)) {
      if (keys.includes(key)) backoff[key] = JSON.parse(json) as BackoffState;
    }
    const quarantines = Object.values(next() as Record<string, string>)
      .map((json) => JSON.parse(json) as QuarantineEntry)
      .filter((q) => q.deployment === deployment.name);
    const pauses = Object.values(next() as Record<string, string>).map((json) => JSON.parse(json) as Pause);
    const inFlight = Object.entries(next() as Record<string, string>).map(([key, json]) => ({
      key,
      ...(JSON.parse(json) as Omit<InFlightEntry, "key">),
    }));
    const settle = next() as string | null;
    const generations: Record<string, string> = {};
    const generationPending: Record<string, number> = {};
    const gens = next() as (string | null)[];
    const pend = next() as (string | null)[];
    const mems = next() as (string | null)[];
    const holdJson = next() as (string | null)[];
    const memory: Record<string, HostGenerations> = {};
    const holds: Record<string, HoldEntry> = {};
    deployment.hosts.forEach((h, j) => {
      const g = gens[j];
      const pending = pend[j];
      if (g) generations[h.name] = g;
      if (pending !== null && pending !== undefined) generationPending[h.name] = Number(pending);
      const m = mems[j];
      if (m) memory[h.name] = JSON.parse(m) as HostGenerations;
      const hold = holdJson[j];
      if (hold) holds[h.name] = JSON.parse(hold) as HoldEntry;
    });
    return {
      attempts,
      backoff,
      budget,
      quarantines,
      pauses,
      inFlight,
      ...(settle ? { settleUntil: Number(settle) } : {}),
      generations,
      generationPending,
      memory,
      holds,
    };
  }

  /**
   * An automatic action was queued: one more attempt for its key, one more against the budgets,
   * its backoff, and the deployment is in flight. One MULTI so a crash leaves all or none.
   */
  async recordAutomatic(a: {
    deployment: string;
    key: string;
    jobId: string;
    at: number;
    backoff: BackoffState;
    keepAttemptsMs: number;
    budgetWindows: { deployment: number; global: number };
  }): Promise<void> {
    const member = `${a.at}:${randomUUID()}`;
    await writeAll(this.redis, [
      ...addTimed(this.k.attempts(a.key), a.at, member, a.keepAttemptsMs),
      ...addTimed(this.k.budgetDeployment(a.deployment), a.at, member, a.budgetWindows.deployment),
      ...addTimed(this.k.budgetGlobal(), a.at, member, a.budgetWindows.global),
      ["HSET", this.k.backoff(), a.key, JSON.stringify(a.backoff)],
      ["HSET", this.k.inflight(a.deployment), a.key, JSON.stringify({ jobId: a.jobId, since: a.at })],
    ]);
  }

  /** A manual action was queued: only the in-flight mark (manual actions spend no budget). */
  async markInFlight(deployment: string, key: string, jobId: string, at: number): Promise<void> {
    await writeOne(this.redis, [
      "HSET",
      this.k.inflight(deployment),
      key,
      JSON.stringify({ jobId, since: at }),
    ]);
  }

  /**
   * Job `jobId` finished: the deployment settles until `settleUntil`, and the key is no longer in
   * flight — unless its mark names another job. A request while the job ran scheduled a rerun
   * and marked it; that rerun starts only after this job ends, and must stay marked until its
   * own outcome (else the next pass sees nothing in flight and queues yet another run).
   */
  async finish(
    deployment: string,
    key: string,
    jobId: string,
    settleUntil: number,
    now: number = Date.now(),
  ): Promise<void> {
    await evalWrite(
      this.redis,
      FINISH,
      [this.k.inflight(deployment), this.k.settle(), this.k.settling(deployment)],
      [key, jobId, deployment, String(settleUntil), String(now)],
    );
  }

  async clearInFlight(deployment: string, key: string): Promise<void> {
    await writeOne(this.redis, ["HDEL", this.k.inflight(deployment), key]);
  }

  async backoff(key: string): Promise<BackoffState | undefined> {
    const json = await this.redis.hget(this.k.backoff(), key);
    return json ? (JSON.parse(json) as BackoffState) : undefined;
  }

  async setBackoff(key: string, state: BackoffState | undefined): Promise<void> {
    await writeOne(
      this.redis,
      state ? ["HSET", this.k.backoff(), key, JSON.stringify(state)] : ["HDEL", this.k.backoff(), key],
    );
  }

  async setQuarantine(q: QuarantineEntry): Promise<void> {
    await this.policyWrite([
      ["HSET", this.k.quarantine(), quarantineField(q.deployment, q.host), JSON.stringify(q)],
    ]);
  }

  async setPause(p: Pause): Promise<void> {
    await this.policyWrite([["HSET", this.k.pauses(), scopeKey(p.scope), JSON.stringify(p)]]);
  }

  /** Returns the pause removed, if there was one. */
  async removePause(scope: PauseScope): Promise<Pause | undefined> {
    const field = scopeKey(scope);
    const [json, removed] = (await this.policyWrite([
      ["HGET", this.k.pauses(), field],
      ["HDEL", this.k.pauses(), field],
    ])) as [string | null, number];
    return removed > 0 && json ? (JSON.parse(json) as Pause) : undefined;
  }

  /**
   * API reset of a deployment or one host: quarantine, backoff and budget (the deployment's
   * window; the global one is shared with other deployments and stays). Returns what existed.
   */
  async reset(deployment: DeploymentSpec, host?: string): Promise<("quarantine" | "backoff" | "budget")[]> {
    const hosts = host === undefined ? deployment.hosts : deployment.hosts.filter((h) => h.name === host);
    const keys = attemptKeys({ ...deployment, hosts });
    if (host !== undefined)
      keys.push(actionKey({ kind: "redeploy", deployment: deployment.name, target: "" }));
    const qFields =
      host === undefined
        ? [deployment.name, ...deployment.hosts.map((h) => quarantineField(deployment.name, h.name))]
        : [quarantineField(deployment.name, host)];
    const [q, b, budget] = (await this.policyWrite([
      ["HDEL", this.k.quarantine(), ...qFields],
      ["HDEL", this.k.backoff(), ...keys],
      ["DEL", this.k.budgetDeployment(deployment.name), ...keys.map((k) => this.k.attempts(k))],
    ])) as number[];
    const cleared: ("quarantine" | "backoff" | "budget")[] = [];
    if ((q ?? 0) > 0) cleared.push("quarantine");
    if ((b ?? 0) > 0) cleared.push("backoff");
    if ((budget ?? 0) > 0) cleared.push("budget");
    return cleared;
  }

  /** A global reset also empties the global budget window. Returns whether there was anything in it. */
  async resetGlobalBudget(): Promise<boolean> {
    return ((await writeOne(this.redis, ["DEL", this.k.budgetGlobal()])) as number) > 0;
  }

  /** A NixGuard apply will change these hosts: no drift until their new system is recorded. */
  async markGenerationPending(
    deployment: string,
    hosts: readonly string[],
    finishedAt: number,
  ): Promise<void> {
    if (hosts.length === 0) return;
    const fields = hosts.flatMap((h) => [`${deployment}/${h}`, String(finishedAt)]);
    await writeOne(this.redis, ["HSET", this.k.generationPending(), ...fields]);
  }

  async clearGenerationPending(deployment: string, hosts: readonly string[]): Promise<void> {
    if (hosts.length === 0) return;
    await writeOne(this.redis, [
      "HDEL",
      this.k.generationPending(),
      ...hosts.map((h) => `${deployment}/${h}`),
    ]);
  }

  /**
   * Hosts removed from the config: their recorded system, pending mark and drift go, so a host
   * added later under the same name starts afresh instead of showing drift at once.
   */
  async forgetHosts(hosts: readonly { deployment: string; name: string }[]): Promise<void> {
    if (hosts.length === 0) return;
    const fields = hosts.map((h) => `${h.deployment}/${h.name}`);
    await this.policyWrite([
      ["HDEL", this.k.generation(), ...fields],
      ["HDEL", this.k.generationPending(), ...fields],
      ["HDEL", this.k.drift(), ...fields],
      ["HDEL", this.k.memory(), ...fields],
      ["HDEL", this.k.holds(), ...fields],
    ]);
  }

  async generationMemory(deployment: string, host: string): Promise<HostGenerations | undefined> {
    const json = await this.redis.hget(this.k.memory(), `${deployment}/${host}`);
    return json ? (JSON.parse(json) as HostGenerations) : undefined;
  }

  /** One host's generation memory, whole (bounded by the caller: generations.ts noteSystem). */
  async setGenerationMemory(deployment: string, host: string, mem: HostGenerations): Promise<void> {
    await writeOne(this.redis, ["HSET", this.k.memory(), `${deployment}/${host}`, JSON.stringify(mem)]);
  }

  async setHold(h: HoldEntry): Promise<void> {
    await writeOne(this.redis, ["HSET", this.k.holds(), `${h.deployment}/${h.host}`, JSON.stringify(h)]);
  }

  /** Returns the hold removed, if there was one. */
  async removeHold(deployment: string, host: string): Promise<HoldEntry | undefined> {
    const field = `${deployment}/${host}`;
    const [json, removed] = (await writeAll(this.redis, [
      ["HGET", this.k.holds(), field],
      ["HDEL", this.k.holds(), field],
    ])) as [string | null, number];
    return removed > 0 && json ? (JSON.parse(json) as HoldEntry) : undefined;
  }

  async holds(): Promise<HoldEntry[]> {
    return Object.values(await this.redis.hgetall(this.k.holds())).map((j) => JSON.parse(j) as HoldEntry);
  }

  /**
   * True the first time a cause is announced for the deployment (one apply named once however
   * many hosts it broke). The newest 100 causes per deployment are remembered.
   */
  async announceCause(deployment: string, cause: string, at: number): Promise<boolean> {
    const key = this.k.causes(deployment);
    const [added] = (await writeAll(this.redis, [
      ["ZADD", key, "NX", at, cause],
      ["ZREMRANGEBYRANK", key, 0, -101],
    ])) as [number, number];
    return added === 1;
  }

  async recordGeneration(deployment: string, host: string, system: string): Promise<void> {
    const field = `${deployment}/${host}`;
    await writeAll(this.redis, [
      ["HSET", this.k.generation(), field, system],
      ["HDEL", this.k.generationPending(), field],
    ]);
  }

  async setDrift(deployment: string, host: string, since: number | undefined): Promise<void> {
    const field = `${deployment}/${host}`;
    await this.policyWrite([
      since === undefined ? ["HDEL", this.k.drift(), field] : ["HSET", this.k.drift(), field, String(since)],
    ]);
  }

  async breaker(): Promise<BreakerRecord | undefined> {
    const json = await this.redis.get(this.k.breaker());
    return json ? (JSON.parse(json) as BreakerRecord) : undefined;
  }

  async setBreaker(b: BreakerRecord): Promise<void> {
    await writeOne(this.redis, ["SET", this.k.breaker(), JSON.stringify(b)]);
  }

  /**
   * Which actions of the deployment are in flight, and which settle until when: the health
   * evaluation suppresses failure counting on the hosts they touch (runtime/suppression.ts).
   * Two cheap reads: the settling hash holds only keys still settling.
   */
  async suppression(deployment: string): Promise<{ inFlight: string[]; settling: Map<string, number> }> {
    const [inFlight, settling] = await Promise.all([
      this.redis.hkeys(this.k.inflight(deployment)),
      this.redis.hgetall(this.k.settling(deployment)),
    ]);
    return { inFlight, settling: new Map(Object.entries(settling).map(([k, v]) => [k, Number(v)])) };
  }

  /** Deployments with actions marked in flight (for the loop's check against the queue). */
  async inFlight(deployment: string): Promise<InFlightEntry[]> {
    const all = await this.redis.hgetall(this.k.inflight(deployment));
    return Object.entries(all).map(([key, json]) => ({
      key,
      ...(JSON.parse(json) as Omit<InFlightEntry, "key">),
    }));
  }
}

/** Action keys whose attempts and backoff matter to one deployment's ladder. */
export function attemptKeys(deployment: DeploymentSpec): string[] {
  const keys = new Set<string>([actionKey({ kind: "redeploy", deployment: deployment.name, target: "" })]);
  for (const h of deployment.hosts) {
    keys.add(actionKey({ kind: "restart", deployment: deployment.name, host: h.name, units: [] }));
    keys.add(actionKey({ kind: "redeploy", deployment: deployment.name, target: "", host: h.name }));
    keys.add(actionKey({ kind: "rollback", deployment: deployment.name, host: h.name, to: [] }));
  }
  return [...keys];
}

/** ZRANGE key 0 -1 WITHSCORES of every key, in order (scores as strings, as ZRANGE replies). */
const ZRANGE_EACH = `local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call("ZRANGE", key, 0, -1, "WITHSCORES") end
return out`;

/**
 * HDEL the in-flight mark ARGV[1] if it names job ARGV[2]; set the deployment's settle time
 * either way, and the key's own in the settling hash (KEYS[3]), dropping keys settled by now
 * (ARGV[5]) and letting the hash expire with its last settle: it never outgrows the keys
 * settling at once.
 */
const FINISH = `local mark = redis.call("HGET", KEYS[1], ARGV[1])
if mark then
  local ok, entry = pcall(cjson.decode, mark)
  if not ok or type(entry) ~= "table" or entry.jobId == ARGV[2] then redis.call("HDEL", KEYS[1], ARGV[1]) end
end
redis.call("HSET", KEYS[2], ARGV[3], ARGV[4])
redis.call("HSET", KEYS[3], ARGV[1], ARGV[4])
local now = tonumber(ARGV[5])
local last = 0
local all = redis.call("HGETALL", KEYS[3])
for i = 1, #all, 2 do
  local untilAt = tonumber(all[i + 1]) or 0
  if untilAt <= now then redis.call("HDEL", KEYS[3], all[i]) elseif untilAt > last then last = untilAt end
end
if last > 0 then redis.call("PEXPIREAT", KEYS[3], math.floor(last) + 1) end
return 0`;

const quarantineField = (deployment: string, host?: string) =>
  host === undefined ? deployment : `${deployment}/${host}`;

type Chain = ReturnType<Redis["pipeline"]>;

/** Sorted set of timestamps trimmed to its window and expiring with it: no key outlives its use. */
function addTimed(key: string, at: number, member: string, keepMs: number): Cmd[] {
  return [
    ["ZADD", key, at, member],
    ["ZREMRANGEBYSCORE", key, "-inf", `(${at - keepMs}`],
    ["PEXPIRE", key, Math.max(1, Math.ceil(keepMs))],
  ];
}

function scores(withScores: string[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < withScores.length; i += 2) out.push(Number(withScores[i]));
  return out;
}

/** Runs a pipeline and throws the first command error instead of returning it. */
async function exec(chain: Chain): Promise<unknown[]> {
  const res = await chain.exec();
  if (!res) throw new Error("redis transaction aborted");
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
