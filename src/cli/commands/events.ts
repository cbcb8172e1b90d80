import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import type { NixGuardEvent } from "../../controller/types.js";
import { formatEvents } from "../format.js";
import { type CommandKit, type Common, clientCommand, intOption, outputOf, timeOption } from "../options.js";

interface EventsOpts extends Common {
  since?: string;
  limit: string;
  deployment?: string;
  host?: string;
  follow?: boolean;
  interval: string;
}

/** `events [-f]`: recent events, and with -f new ones as they are recorded until Ctrl-C. */
export function registerEvents(program: Command, kit: CommandKit, signal?: AbortSignal): void {
  clientCommand(program, "events", "recent events, oldest first; -f keeps printing new ones")
    .option("--since <time>", "ISO time or duration ago (1h)")
    .option("--limit <n>", "at most this many (1-1000)", "50")
    .option("--deployment <name>", "only this deployment")
    .option("--host <name>", "only this host")
    .option("-f, --follow", "keep printing new events until interrupted")
    .option("--interval <seconds>", "with -f: ask for new events this often (1-60)", "2")
    .action(async (opts: EventsOpts) => {
      const limit = intOption("--limit", opts.limit, 1, 1000);
      const intervalMs = intOption("--interval", opts.interval, 1, 60) * 1000;
      const query = (since?: string) => {
        const q = new URLSearchParams({ limit: String(since ? 1000 : limit) });
        const from = since ?? (opts.since ? timeOption("--since", opts.since) : undefined);
        if (from) q.set("since", from);
        if (opts.deployment) q.set("deployment", opts.deployment);
        if (opts.host) q.set("host", opts.host);
        return `/api/v1/events?${q}`;
      };
      const api = kit.client(opts);
      const json = outputOf(opts) === "json";
      const wide = outputOf(opts) === "wide";
      const events = await api.get<NixGuardEvent[]>(query());
      if (!opts.follow) {
        kit.print(opts, events, () => formatEvents(events, kit.io.now(), wide));
        return;
      }
      // Followed JSON is one event per line (NDJSON), so a script can read it as it comes.
      const print = (list: NixGuardEvent[], first: boolean) => {
        if (json) for (const e of list) kit.io.stdout(`${JSON.stringify(e)}\n`);
        else if (list.length > 0 || first) {
          const text = formatEvents(list, kit.io.now(), wide);
          kit.io.stdout(first ? text : text.split("\n").slice(1).join("\n"));
        }
      };
      print(events, true);
      // Asking again from the last event's time and skipping the ids already printed at that
      // time covers several events in one millisecond; only that millisecond's ids are kept.
      let last = events.at(-1)?.time ?? kit.io.now();
      let seen = new Set(events.filter((e) => e.time === last).map((e) => e.id));
      while (!signal?.aborted) {
        await sleep(intervalMs, undefined, signal ? { signal } : {}).catch(() => undefined);
        if (signal?.aborted) break;
        const fresh = (await api.get<NixGuardEvent[]>(query(new Date(last).toISOString()))).filter(
          (e) => !seen.has(e.id),
        );
        if (fresh.length === 0) continue;
        const newest = fresh.at(-1)!.time;
        seen = new Set([
          ...(newest === last ? seen : []),
          ...fresh.filter((e) => e.time === newest).map((e) => e.id),
        ]);
        last = newest;
        print(fresh, false);
      }
    });
}
