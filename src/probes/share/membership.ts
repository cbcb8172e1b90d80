import type { Redis } from "ioredis";
import type { MemberBeat } from "./share.js";

/**
 * The probing membership in Redis: a sorted set of member ids scored by their last heartbeat
 * (Redis' own clock, so members on machines whose clocks disagree still agree on who is alive)
 * and a hash of what each member says about itself (for status). A member heartbeats every
 * `probes.sharing.heartbeat`; one silent for `deadAfter` is dead to the others, which take its
 * hosts. A member stopping cleanly leaves at once. Long-dead entries are swept by any heartbeat.
 */

export const membersKey = (prefix: string) => `${prefix}:probe:members`;
export const memberInfoKey = (prefix: string) => `${prefix}:probe:member-info`;

/** What a member says about itself, shown in status. */
export interface MemberInfo {
  pid: number;
  hostname: string;
  roles: string[];
  startedAt: number;
}

export interface MembershipView {
  /** Redis' time when the view was read (ms). */
  at: number;
  members: MemberBeat[];
}

// Heartbeat and read in one round trip: score this member with Redis' TIME, forget members dead
// for SWEEP_FACTOR × deadAfter (status still shows the recently dead), return every member.
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`;

const READ = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`;

const SWEEP_FACTOR = 10;

function parseView(reply: unknown): MembershipView {
  const [now, flat] = reply as [number, string[]];
  const members: MemberBeat[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    members.push({ id: flat[i] as string, heartbeatAt: Number(flat[i + 1]) });
  return { at: Number(now), members };
}

export class Membership {
  constructor(
    private readonly opts: {
      redis: Redis;
      prefix: string;
      id: string;
      info: MemberInfo;
      deadAfterMs: number;
    },
  ) {}

  get id(): string {
    return this.opts.id;
  }

  /** Records this member's heartbeat and returns every member Redis knows. */
  async heartbeat(): Promise<MembershipView> {
    const { redis, prefix, id, info, deadAfterMs } = this.opts;
    const reply = await redis.eval(
      HEARTBEAT,
      2,
      membersKey(prefix),
      memberInfoKey(prefix),
      id,
      String(SWEEP_FACTOR * deadAfterMs),
      JSON.stringify(info),
    );
    return parseView(reply);
  }

  /** Stopping: the others take this member's hosts at their next heartbeat, not after deadAfter. */
  async leave(): Promise<void> {
    const { redis, prefix, id } = this.opts;
    await redis.multi().zrem(membersKey(prefix), id).hdel(memberInfoKey(prefix), id).exec();
  }
}

/** Every member and what it says about itself, for status (any process; no heartbeat). */
export async function readMembership(
  redis: Redis,
  prefix: string,
): Promise<MembershipView & { info: Record<string, MemberInfo> }> {
  const [view, raw] = await Promise.all([
    redis.eval(READ, 1, membersKey(prefix)).then(parseView),
    redis.hgetall(memberInfoKey(prefix)),
  ]);
  const info: Record<string, MemberInfo> = {};
  for (const [id, text] of Object.entries(raw)) {
    try {
      info[id] = JSON.parse(text) as MemberInfo;
    } catch {
      // A member that wrote something else is shown without its details.
    }
  }
  return { ...view, info };
}
