import { Agent, request } from "undici";
import type { TransportSpec } from "../../config/desired.js";
import { httpUrl } from "../../config/grammar.js";
import { CommandError, NixGuardError, ProbeError } from "../../errors.js";
import type { HostFacts, Transport } from "../types.js";
import { parseNodeExporter } from "./exporter-parse.js";
import { abortError } from "./run.js";

export type ExporterSpec = Extract<TransportSpec, { kind: "exporter" }>;

const MAX_BODY = 16 * 1024 * 1024;

/** Unit states from the host's node_exporter over HTTP: read-only, no shell access needed. */
export class ExporterTransport implements Transport {
  readonly kind = "exporter" as const;
  private readonly agent: Agent;

  constructor(private readonly spec: ExporterSpec) {
    const problem = httpUrl(spec.url);
    if (problem)
      throw new NixGuardError("UNSAFE_VALUE", `exporter URL ${JSON.stringify(spec.url)}: ${problem}`);
    // One keep-alive connection per exporter: a scrape every interval needs no new handshake.
    this.agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  }

  async fetch(units: readonly string[], signal: AbortSignal): Promise<HostFacts> {
    let text: string;
    try {
      const res = await request(this.spec.url, {
        dispatcher: this.agent,
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
    await this.agent.close();
  }
}
