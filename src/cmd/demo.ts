import type { Command } from "commander";
import { parseDuration } from "../config/duration-text.js";
import { demoScenarios } from "../demo/scenarios.js";
import { UsageError } from "../errors.js";

/**
 * `nixguard demo` (`npm run demo`): NixGuard healing a simulated fleet, in one command, with no
 * NixOS machine. Ctrl-C or SIGTERM stop it (a second one exits at once); `--duration` makes it stop
 * by itself. Exit 0 after a clean stop; 69 when redis-server is missing (the message says both fixes).
 */
export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run NixGuard against a simulated Fediversity fleet, injecting a fault every ~20 s")
    .option("--duration <duration>", "stop after this long (e.g. 60s, 5m); default: until Ctrl-C")
    .option("--interval <duration>", "a new fault at most this often", "20s")
    .option("--port <port>", "API port on 127.0.0.1 (default 9273, or a free one if taken)")
    .option(
      "--redis-url <url>",
      "use this Redis (keys under a private prefix, deleted on exit) instead of a private redis-server",
    )
    .option(
      "--scenario <names>",
      `only these scenarios, comma-separated (${demoScenarios()
        .map((s) => s.name)
        .join(", ")})`,
    )
    .option(
      "--alerts",
      "hold each fault long enough for every alert of contrib/prometheus/alerts.yml to fire (see docs/operations.md, 'Watching the alerts fire')",
    )
    .option(
      "--hold <duration>",
      "with --alerts: how long each fault is held; the shipped rules need 2h for DeployFailing, `nixguard alerts --time-scale N` rules need 2h/N",
      "20m",
    )
    .option("--keep", "keep the temporary directory (log, Redis data) after exit")
    .option(
      "--nixops4-cli <generation>",
      "the simulated nixops4's CLI: older (deployments, logs on stdout; Fediversity's) or newer (members, composites only, logs on stderr)",
      "older",
    )
    .action(
      async (opts: {
        duration?: string;
        interval: string;
        port?: string;
        redisUrl?: string;
        scenario?: string;
        keep?: boolean;
        alerts?: boolean;
        hold: string;
        nixops4Cli: string;
      }) => {
        if (opts.nixops4Cli !== "older" && opts.nixops4Cli !== "newer")
          throw new UsageError(`--nixops4-cli takes older or newer (got "${opts.nixops4Cli}")`);
        const nixops4Cli: "older" | "newer" = opts.nixops4Cli;
        const names = demoScenarios().map((s) => s.name);
        const scenarios = opts.scenario?.split(",").map((s) => s.trim());
        const unknown = scenarios?.find((s) => !names.includes(s));
        if (unknown !== undefined)
          throw new UsageError(`--scenario: no scenario "${unknown}" (there are ${names.join(", ")})`);
        const durationMs = opts.duration === undefined ? undefined : duration("--duration", opts.duration);
        const intervalMs = duration("--interval", opts.interval);
        const holdMs = duration("--hold", opts.hold);
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
          throw new UsageError(`--port takes 0..65535 (got "${opts.port}")`);
        if (opts.redisUrl !== undefined && !/^(redis|rediss|unix):\/\/\S+$/.test(opts.redisUrl))
          throw new UsageError(`--redis-url takes redis://, rediss:// or unix:// (got "${opts.redisUrl}")`);

        const stop = new AbortController();
        const onSignal = () => {
          if (stop.signal.aborted) process.exit(130);
          stop.abort();
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        const timer = durationMs === undefined ? undefined : setTimeout(() => stop.abort(), durationMs);
        const { runDemo } = await import("../demo/session.js");
        try {
          await runDemo({
            intervalMs,
            ...(port !== undefined ? { port } : {}),
            ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
            ...(scenarios ? { scenarios } : {}),
            keep: opts.keep === true,
            ...(opts.alerts ? { alerts: { holdMs } } : {}),
            nixops4Cli,
            signal: stop.signal,
            write: (text) => process.stdout.write(text),
            colour: process.stdout.isTTY === true && !process.env["NO_COLOR"],
          });
        } finally {
          clearTimeout(timer);
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
      },
    );
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`${flag} takes a duration such as 20s or 5m (got "${text}")`);
  return ms;
}
