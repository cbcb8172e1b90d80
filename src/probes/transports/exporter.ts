import { Agent, request } from "undici";
import type { TransportSpec } from "../../config/desired.js";
import { httpUrl } from "../../config/grammar.js";
import { CommandError, NixGuardError, ProbeError } from "../../errors.js";
import type { HostFacts, Transport } from "../types.js";
import { parseNodeExporter } from "./exporter-parse.js";
import { abortError } from "./run.js";

export type ExporterSpec = Extract<TransportSpec, { kind: "exporter" }>;

const MAX_BODY = 16 * 1024 * 1024;

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
  private agent: Agent | undefined;

  constructor(private readonly spec: ExporterSpec) {
    const problem = httpUrl(spec.url);
    if (problem)
      throw new NixGuardError("UNSAFE_VALUE", `exporter URL ${JSON.stringify(spec.url)}: ${problem}`);
    // Keep-alive connections: a scrape every interval needs no new handshake.
    this.agent = acquireAgent();
  }

  async fetch(units: readonly string[], signal: AbortSignal): Promise<HostFacts> {
    let text: string;
    const dispatcher = this.agent;
    if (!dispatcher)
      throw new ProbeError("PROBE_UNREACHABLE", `node_exporter ${this.spec.url}: transport closed`);
    try {
      const res = await request(this.spec.url, {
        dispatcher,
        signal,
        headers: { accept: "text/plain; version=0.0.4" },
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new ProbeError(
          "PROBE_UNREACHABLE",
          `node_exporter ${this.spec.url} answered ${res.statusCode}`,
        );
      }
      const len = Number(res.headers["content-length"] ?? 0);
      if (len > MAX_BODY) {
        await res.body.dump();
        throw new ProbeError(
          "PROBE_PARSE",
          `node_exporter ${this.spec.url}: body of ${len} bytes is too large`,
        );
      }
      text = await res.body.text();
    } catch (e) {
      if (signal.aborted) throw abortError(signal, `node_exporter ${this.spec.url}`);
      if (e instanceof NixGuardError) throw e;
      const code = (e as { code?: string }).code ?? "error";
      throw new ProbeError("PROBE_UNREACHABLE", `node_exporter ${this.spec.url}: ${code}`, { cause: e });
    }
    return parseNodeExporter(text, units);
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
