import { Agent } from "undici";
import type { TransportSpec } from "../../config/desired.js";
import { httpUrl } from "../../config/grammar.js";
import { CommandError, NixGuardError, ProbeError } from "../../errors.js";
import type { Abortable } from "../cancel.js";
import type { HostFacts, Transport } from "../types.js";
import { CAN_RESTART } from "./capabilities.js";
import { parseNodeExporter } from "./exporter-parse.js";
import { PageRead } from "./exporter-read.js";
import { abortError } from "./run.js";

export type ExporterSpec = Extract<TransportSpec, { kind: "exporter" }>;

const ACCEPT = { accept: "text/plain; version=0.0.4" };

/**
 * One undici Agent for every exporter transport, with a connection pool per origin, held while at
 * least one transport is open. An Agent (and a keep-alive socket) per host cost ~10 KB each and
 * 10,000 sockets at 10,000 hosts; exporters behind one origin (a proxy, the simulator) now share a
 * few pooled connections, and distinct origins still keep their connection between scrapes.
 */
let shared: { agent: Agent; users: number } | undefined;

function acquireAgent(): Agent {
  shared ??= { agent: new Agent({ keepAliveTimeout: 60_000 }), users: 0 };
  shared.users++;
  return shared.agent;
}

async function releaseAgent(agent: Agent): Promise<void> {
  if (!shared || shared.agent !== agent) return;
  shared.users--;
  if (shared.users > 0) return;
  shared = undefined;
  await agent.close();
}

/** Unit states from the host's node_exporter over HTTP: read-only, no shell access needed. */
export class ExporterTransport implements Transport {
  readonly kind = "exporter" as const;
  readonly canRestart = CAN_RESTART.exporter;
  private agent: Agent | undefined;
  /** The URL parsed once, not per scrape. */
  private readonly target: { origin: string; path: string };

  constructor(private readonly spec: ExporterSpec) {
    const problem = httpUrl(spec.url);
    if (problem)
      throw new NixGuardError("UNSAFE_VALUE", `exporter URL ${JSON.stringify(spec.url)}: ${problem}`);
    const url = new URL(spec.url);
    this.target = { origin: url.origin, path: `${url.pathname}${url.search}` };
    // Keep-alive connections: a scrape every interval needs no new handshake.
    this.agent = acquireAgent();
  }

  async fetch(units: readonly string[], signal: Abortable): Promise<HostFacts> {
    const text = await this.page(signal);
    return parseNodeExporter(text, units);
  }

  private page(signal: Abortable): Promise<string> {
    const dispatcher = this.agent;
    const what = `node_exporter ${this.spec.url}`;
    if (!dispatcher) return Promise.reject(new ProbeError("PROBE_UNREACHABLE", `${what}: transport closed`));
    return new Promise<string>((resolve, reject) => {
      const end = () => signal.removeEventListener("abort", onAbort);
      const read = new PageRead(
        what,
        (text) => {
          end();
          resolve(text);
        },
        (e) => {
          end();
          if (signal.aborted) reject(abortError(signal, what));
          else if (e instanceof NixGuardError) reject(e);
          else {
            const code = (e as { code?: string }).code ?? "error";
            reject(new ProbeError("PROBE_UNREACHABLE", `${what}: ${code}`, { cause: e }));
          }
        },
      );
      const onAbort = () => read.abort(abortError(signal, what));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      dispatcher.dispatch(
        { origin: this.target.origin, path: this.target.path, method: "GET", headers: ACCEPT },
        read,
      );
    });
  }

  async restart(units: readonly string[]): Promise<void> {
    throw new CommandError(
      "COMMAND_NOT_FOUND",
      `cannot restart ${units.join(" ")}: the exporter transport is read-only (configure ssh to allow restarts)`,
      { argv: ["systemctl", "restart", ...units] },
    );
  }

  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    if (agent) await releaseAgent(agent);
  }
}
