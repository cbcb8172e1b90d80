import { z } from "zod";
import { Duration } from "./duration.js";
import * as g from "./grammar.js";

/**
 * The config file, defined once: TypeScript types (z.infer), runtime validation and
 * docs/config.schema.json (scripts/gen-schema.ts) all come from here, as do the defaults.
 * Every object is strict: an unknown key is an error, so a typo is never silently ignored.
 */

const safe = (check: g.Check, description: string) =>
  z
    .string()
    .superRefine((v, ctx) => {
      const problem = check(v);
      if (problem) ctx.addIssue({ code: "custom", message: problem, input: v });
    })
    .meta({ description });

export const Name = safe(g.resourceName, "Name: letters, digits, '.', '_' and '-'");
export const HostAddress = safe(g.hostAddress, "DNS name, IPv4 or IPv6 address");
export const UnitName = safe(g.unitName, "systemd unit name with suffix, e.g. mastodon-web.service");
export const Target = safe(g.nixops4Target, "nixops4 deployment name or member dot path");
export const AbsPath = safe(g.absolutePath, "Absolute path without shell metacharacters");
export const RelPath = safe(g.relativePath, "Path relative to the deployment's directory");
export const HttpUrl = safe(g.httpUrl, "http:// or https:// URL");
export const SshUser = safe(g.sshUser, "POSIX user name");
export const Port = z.number().int().min(1).max(65535);
const Fraction = z.number().min(0).max(1);

export const SERVICE_NAMES = ["garage", "mastodon", "pixelfed", "peertube", "gotosocial"] as const;
export const ServiceName = z.enum(SERVICE_NAMES);
export type ServiceName = z.infer<typeof ServiceName>;

// A bare command name (looked up on PATH; not starting with "-" or ".") or an absolute path
// without "." or ".." segments: never "--help", "-" or a path relative to the flake directory.
const COMMAND = /^(?:[A-Za-z0-9_+][A-Za-z0-9._+-]*|(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._+-]+)+)$/;

const CronExpr = z
  .string()
  .min(9)
  .regex(/^[0-9*,/\-A-Za-z ?#L]+$/, { message: 'expected a cron expression such as "0 2 * * 0"' })
  .meta({ description: "cron expression (node-cron syntax, 5 or 6 fields)" });

export const HttpCheckConfig = z.strictObject({
  name: Name,
  url: HttpUrl,
  method: z.enum(["GET", "HEAD"]).default("GET"),
  expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  expectBody: z.string().max(4096).optional().meta({ description: "Substring the body must contain" }),
  expectBodyRegex: z
    .string()
    .max(1024)
    .optional()
    .meta({ description: "Regular expression the body must match" }),
  timeout: Duration.optional().meta({ description: "Overrides probes.timeout" }),
  followRedirects: z.boolean().default(false),
  tlsVerify: z.boolean().default(true),
  caFile: AbsPath.optional(),
  resolve: HostAddress.optional().meta({
    description:
      "Connect to this address while sending the URL's hostname (SNI and Host), like curl --resolve",
  }),
  bearerTokenFile: AbsPath.optional(),
  units: z
    .array(UnitName)
    .default([])
    .meta({ description: "Units restarted when this check fails while they look active" }),
});

const TransportKind = z.enum(["ssh", "local", "exporter"]);

const ServiceCheckOverride = z.strictObject({
  enable: z.boolean().optional(),
  url: HttpUrl.optional(),
  path: z
    .string()
    .regex(/^\/[^\s]*$/, { message: "expected a path starting with /" })
    .optional(),
  expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional(),
  expectBody: z.string().max(4096).optional(),
});

const ServiceOverride = z.strictObject({
  hostname: HostAddress.optional().meta({ description: "Public hostname; default <service>.<domain>" }),
  scheme: z.enum(["http", "https"]).optional(),
  streamingProcesses: z.number().int().min(0).max(64).optional().meta({
    description: "Mastodon only, required: services.mastodon.streamingProcesses (nixpkgs has no default)",
  }),
  port: Port.optional().meta({ description: "Port of the health endpoint when it is not the public vhost" }),
  skipUnits: z.array(UnitName).optional().meta({ description: "Catalog units not to check on this host" }),
  options: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9.]*$/), z.boolean())
    .optional()
    .meta({
      description:
        "Module options (relative to services.<name>, e.g. redis.createLocally) that create conditional units, when not nixpkgs' default",
    }),
  adminApi: z
    .strictObject({
      address: HostAddress.optional().meta({ description: "Default: the host's address" }),
      port: Port.default(3903),
      tokenFile: AbsPath.optional().meta({
        description: "Bearer token for the admin API (not needed for /health)",
      }),
    })
    .optional()
    .meta({
      description:
        "Garage only: its admin API ([admin] api_bind_addr), which the nixpkgs module does not enable; unset: the unit and the S3 port are checked",
    }),
  checks: z.record(Name, ServiceCheckOverride).optional(),
});

export const HostConfig = z.strictObject({
  address: HostAddress,
  transport: TransportKind.optional().meta({
    description: "How to reach systemd; default ssh (local for localhost)",
  }),
  exporterUrl: HttpUrl.optional().meta({ description: "node_exporter /metrics URL for transport exporter" }),
  user: SshUser.optional(),
  port: Port.optional(),
  identityFile: AbsPath.optional(),
  knownHostsFile: AbsPath.optional(),
  target: Target.optional().meta({
    description: "nixops4 target of this host alone; default the deployment's",
  }),
  services: z.array(ServiceName).default([]),
  serviceOptions: z.partialRecord(ServiceName, ServiceOverride).optional(),
  units: z.array(UnitName).default([]),
  oneshotUnits: z
    .array(UnitName)
    .default([])
    .meta({ description: "Units judged by Result=success, not by running" }),
  http: z.array(HttpCheckConfig).default([]),
});

/**
 * Fediversity's own NixOS options (fediversity.*), as a deployment sets them: NixGuard reads
 * `domain`, each service's `enable` and derives Garage; everything else Fediversity has
 * (s3AccessKeyFile, secretsFile, temp.*, and options added later) is kept as it is, not refused,
 * so a block copied from a Fediversity deployment loads unchanged.
 */
const FediversityService = (extra: Record<string, z.ZodType>) =>
  z.looseObject({ enable: z.boolean().default(false), ...extra });

export const FediversityConfig = z.looseObject({
  domain: HostAddress,
  garage: FediversityService({}).optional().meta({
    description: "Derived: Garage runs whenever mastodon, pixelfed or peertube is enabled",
  }),
  mastodon: FediversityService({
    s3AccessKeyFile: z.string().optional(),
    s3SecretKeyFile: z.string().optional(),
  }).optional(),
  pixelfed: FediversityService({
    s3AccessKeyFile: z.string().optional(),
    s3SecretKeyFile: z.string().optional(),
  }).optional(),
  peertube: FediversityService({ secretsFile: z.string().optional() }).optional(),
  gotosocial: FediversityService({})
    .optional()
    .meta({ description: "Not in Fediversity (yet); NixGuard's catalog has it" }),
  temp: z
    .looseObject({ cores: z.number().int().min(1).optional(), initialUser: z.looseObject({}).optional() })
    .optional(),
});

/** Apps that keep their media in Garage: any of them enabled means Garage runs. */
export const GARAGE_USERS = ["mastodon", "pixelfed", "peertube"] as const;

export const DeploymentConfig = z.strictObject({
  flake: AbsPath.meta({ description: "Flake directory nixops4 runs in (its working directory)" }),
  target: z
    .union([Target, z.array(Target).max(32)])
    .default("default")
    // Kept as one string: paths separated by spaces (the grammar has none), "" = the whole root.
    .transform((t) => (Array.isArray(t) ? t.join(" ") : t))
    .meta({
      description:
        "What nixops4 applies: a deployment name (older CLI), or composite paths, [] for the whole root (newer CLI)",
    }),
  fediversity: FediversityConfig.optional(),
  hosts: z
    .record(Name, HostConfig)
    .refine((h) => Object.keys(h).length > 0, { message: "at least one host" }),
});

const Window = z.strictObject({ max: z.number().int().min(0), window: Duration });

export const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  redis: z
    .strictObject({
      url: z
        .string()
        .regex(/^(redis|rediss|unix):\/\/\S+$/, { message: "expected redis://, rediss:// or unix:// URL" })
        .optional()
        .meta({
          description:
            "One Redis server; unset (and no redis.sentinels): NixGuard starts a private redis-server under state.dir",
        }),
      sentinels: z
        .strictObject({
          addresses: z.array(safe(g.hostPort, "HOST:PORT of a Sentinel ([v6]:PORT for IPv6)")).min(1).meta({
            description: "Sentinels to ask for the master; tried in turn, more are learned from them",
          }),
          masterName: Name.meta({
            description: "The master's name in the Sentinels' `sentinel monitor` line",
          }),
          passwordFile: AbsPath.optional().meta({
            description: "File holding the Redis servers' password (requirepass/masterauth)",
          }),
          sentinelPasswordFile: AbsPath.optional().meta({
            description: "File holding the Sentinels' own password, when they require one",
          }),
          db: z
            .number()
            .int()
            .min(0)
            .max(15)
            .default(0)
            .meta({ description: "Database number on the master" }),
        })
        .optional()
        .meta({
          description:
            "Redis behind Sentinel: NixGuard asks them for the master and follows a failover (not with redis.url)",
        }),
      prefix: Name.default("nixguard"),
    })
    .refine((r) => !(r.url && r.sentinels), {
      message:
        "set redis.url (one Redis) or redis.sentinels (Redis behind Sentinel), not both; neither: NixGuard runs its own",
      path: ["sentinels"],
    })
    .prefault({}),
  state: z
    .strictObject({
      dir: AbsPath.default("/var/lib/nixguard"),
      runtimeDir: AbsPath.default("/run/nixguard").meta({ description: "SSH control sockets" }),
    })
    .prefault({}),
  log: z
    .strictObject({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info") })
    .prefault({}),
  api: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: "expected HOST:PORT" })
        .default("127.0.0.1:9273"),
      tokens: z
        .array(z.strictObject({ name: Name.optional(), file: AbsPath, scope: z.enum(["read", "admin"]) }))
        .default([]),
      metricsAuth: z.boolean().default(false).meta({ description: "Require a read token for /metrics" }),
      bodyLimit: z.number().int().min(1024).max(10_485_760).default(65_536),
      rateLimit: z
        .strictObject({ max: z.number().int().min(1).default(30), window: Duration.prefault("1m") })
        .prefault({}),
    })
    .prefault({}),
  probes: z
    .strictObject({
      interval: Duration.prefault("30s"),
      timeout: Duration.prefault("10s"),
      jitter: Fraction.default(0.1),
      concurrency: z.number().int().min(1).max(10_000).default(64),
      failureThreshold: z.number().int().min(1).max(100).default(3),
      successThreshold: z.number().int().min(1).max(100).default(1),
      maxHealthAge: Duration.optional().meta({
        description:
          "Health observed longer ago than this is forgotten when NixGuard starts to lead (the host is unknown until probed again), so nothing acts on it. Default: 2 × interval + timeout",
      }),
      sharing: z
        .strictObject({
          heartbeat: Duration.optional().meta({
            description:
              "How often each probing process (roles controller or probe) renews its membership in Redis. Default: interval / 6",
          }),
          deadAfter: Duration.optional().meta({
            description:
              "A member silent this long is dead and the others take its hosts (a host is then unprobed for at most about interval × (1 + 2 × jitter) + deadAfter + heartbeat). Default: interval / 3",
          }),
          streamLength: z.number().int().min(1000).max(10_000_000).default(100_000).meta({
            description:
              "Observations kept in the Redis stream the probing processes publish to the leader (approximate cap: MAXLEN ~)",
          }),
        })
        .prefault({})
        .meta({
          description:
            "Probing shared across processes: every process with the controller or probe role probes its rendezvous-hash share of the hosts and publishes what it sees to the leader through Redis; one process alone probes everything itself",
        }),
      crashLoop: z
        .strictObject({
          restarts: z.number().int().min(1).max(1000).default(3).meta({
            description:
              "A unit that systemd restarted this many times within `window` (NRestarts growing between probes, or `activating (auto-restart)` seen again) is failing: a crash loop, whatever its state at the moment of a probe",
          }),
          window: Duration.prefault("5m").meta({
            description:
              "How far back restarts count; a count that goes down (an explicit restart, a reboot), or running steadily for window / restarts, starts afresh",
          }),
        })
        .prefault({})
        .meta({
          description:
            "Crash loops judged over time (Kubernetes' CrashLoopBackOff): a `Restart=always` service that keeps dying never turns `failed`",
        }),
      thresholds: z
        .strictObject({
          diskUsedFraction: Fraction.default(0.9),
          loadPerCpu: z.number().min(0).default(4),
          memoryUsedFraction: Fraction.default(0.95),
        })
        .prefault({}),
    })
    .prefault({}),
  remediation: z
    .strictObject({
      mode: z.enum(["enforce", "dry-run", "observe"]).default("enforce"),
      restartAttempts: z.number().int().min(0).max(100).default(2),
      restartWindow: Duration.prefault("30m"),
      restartTimeout: Duration.prefault("2m").meta({
        description:
          "A `systemctl restart` still running after this is ended (the ssh session it ran on, which the next request replaces; per-probe: its ssh client, the shared connection stays) with outcome `timeout`, counted as a failed attempt: a unit whose stop hangs must not hold a worker for ever",
      }),
      settle: Duration.prefault("2m"),
      backoff: z
        .strictObject({
          initial: Duration.prefault("30s"),
          factor: z.number().min(1).max(10).default(2),
          max: Duration.prefault("30m"),
          resetAfter: Duration.prefault("10m").meta({ description: "Healthy this long resets the backoff" }),
        })
        .prefault({}),
      budget: z
        .strictObject({
          deployment: Window.prefault({ max: 3, window: "1h" }),
          global: Window.prefault({ max: 10, window: "1h" }),
        })
        .prefault({}),
      breaker: z
        .strictObject({
          unhealthyFraction: Fraction.default(0.5),
          minHosts: z.number().int().min(1).default(3),
        })
        .prefault({}),
      quarantine: z.strictObject({ cooldown: Duration.prefault("6h") }).prefault({}),
      drift: z.enum(["redeploy", "alert", "ignore"]).default("redeploy"),
      rollback: z
        .strictObject({
          mode: z.enum(["off", "automatic"]).default("automatic").meta({
            description:
              "automatic: a host failing soon after switching to a never-known-good generation, that a restart did not heal, is switched back to its newest known-good generation",
          }),
          knownGoodAfter: Duration.optional().meta({
            description:
              "Healthy this long on a generation makes it known-good; default 3 × settle (a few settle periods: longer than the ladder takes to see a crash loop)",
          }),
          window: Duration.prefault("30m").meta({
            description:
              "A host that turns failing this long after a switch or sooner blames the new generation; default the restart window's 30m: later failures are rarely the deploy's",
          }),
          afterRestarts: z.number().int().min(0).max(100).default(1).meta({
            description:
              "Restarts tried (and not healing) before rolling back; 0 rolls back at once. Default 1: a unit that lost a start-order race on the switch comes back with one restart, and each further one costs a settle period of downtime",
          }),
          keep: z.number().int().min(2).max(100).default(16).meta({
            description:
              "Generations remembered per host; the oldest not known-good are forgotten first. 16 covers weeks of daily deploys, more than hosts usually keep before garbage collection",
          }),
          switchTimeout: Duration.prefault("10m").meta({
            description:
              "Longest a rollback's switch-to-configuration may run (it restarts every changed unit, so minutes on a big host)",
          }),
        })
        .prefault({}),
      maintenance: z
        .array(z.strictObject({ cron: CronExpr, duration: Duration, deployments: z.array(Name).optional() }))
        .default([]),
    })
    .prefault({}),
  schedule: z
    .array(
      z.strictObject({ cron: CronExpr, action: z.literal("redeploy"), deployments: z.array(Name).min(1) }),
    )
    .default([]),
  nixops4: z
    .strictObject({
      command: z
        .string()
        .regex(COMMAND, { message: "expected a command name or absolute path" })
        .default("nixops4"),
      timeout: Duration.prefault("30m"),
      interruptGrace: Duration.prefault("30s").meta({
        description:
          "Stopping an apply: SIGINT first (the only signal nixops4 handles: it stops cleanly), SIGTERM after this long",
      }),
      killGrace: Duration.prefault("30s").meta({ description: "Then SIGKILL this long after SIGTERM" }),
      stragglerGrace: Duration.prefault("5s").meta({
        description:
          "After nixops4 exited, how long processes it left behind may live before its process group is killed",
      }),
      file: RelPath.optional().meta({
        description:
          "Nix file with the nixops4 root, relative to each deployment's directory (passed as --file); unset: nixops4.nix in the directory, else its flake",
      }),
      ssh: z
        .strictObject({
          identityFile: AbsPath.optional().meta({
            description: "Private key nixops4's own ssh and nix copy use to reach the machines",
          }),
          knownHostsFile: AbsPath.optional().meta({
            description:
              "known_hosts consulted by nixops4's ssh besides the host keys the deployment declares (GlobalKnownHostsFile)",
          }),
        })
        .prefault({}),
      extraArgs: z
        .array(z.string())
        .default([])
        .superRefine((args, ctx) => {
          const bad = g.nixops4ExtraArgs(args);
          if (bad)
            ctx.addIssue({ code: "custom", message: bad.message, path: [bad.index], input: args[bad.index] });
        })
        .meta({
          description:
            "Extra global nixops4 flags, each at most once (allowlist: -v, --show-trace, --color, --override-input; not with nixops4.file)",
        }),
    })
    .prefault({}),
  ssh: z
    .strictObject({
      command: z
        .string()
        .regex(COMMAND, { message: "expected a command name or absolute path" })
        .default("ssh"),
      user: SshUser.default("root"),
      port: Port.default(22),
      identityFile: AbsPath.optional(),
      knownHostsFile: AbsPath.optional(),
      connectTimeout: Duration.prefault("10s"),
      controlPersist: Duration.prefault("5m"),
      session: z.enum(["per-probe", "persistent"]).default("per-probe").meta({
        description:
          'How probes and restarts reach a host: "per-probe" (default) starts an ssh client per request over a ControlPersist master (ssh.controlPersist); "persistent" keeps one long-lived ssh session per host and sends it framed requests (no process per probe: ~1/5 of the CPU per probe, bench/ssh-transport.ts), but a rollback whose session dies mid-switch is reported failed instead of being settled by the probes, so it is not the default yet',
      }),
    })
    .prefault({}),
  worker: z
    .strictObject({
      concurrency: z.number().int().min(1).max(64).default(4),
      shutdownGrace: Duration.prefault("2m"),
      lockTtl: Duration.prefault("90s").meta({
        description:
          "Flake-directory lock lease, renewed while an apply runs; longer than nixops4.interruptGrace + killGrace + stragglerGrace",
      }),
      logLimitBytes: z.number().int().min(4096).default(1_048_576),
    })
    .prefault({}),
  leader: z.strictObject({ lease: Duration.prefault("15s"), renew: Duration.prefault("5s") }).prefault({}),
  notify: z
    .array(
      z.strictObject({
        url: HttpUrl,
        events: z
          .array(
            z.enum([
              "quarantine",
              "breaker",
              "action",
              "blocked",
              "drift",
              "unreachable",
              "deploy",
              "rollback",
            ]),
          )
          .min(1),
        timeout: Duration.prefault("5s"),
        retries: z.number().int().min(0).max(10).default(3),
      }),
    )
    .default([]),
  deployments: z.record(Name, DeploymentConfig),
});

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type HostConfig = z.output<typeof HostConfig>;
export type DeploymentConfig = z.output<typeof DeploymentConfig>;
export type HttpCheckConfig = z.output<typeof HttpCheckConfig>;
export type ServiceOverride = z.output<typeof ServiceOverride>;
