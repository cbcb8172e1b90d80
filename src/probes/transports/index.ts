import type { HostSpec } from "../../config/desired.js";
import type { Transport } from "../types.js";
import { ExporterTransport } from "./exporter.js";
import { LocalTransport } from "./local.js";
import { SshTransport } from "./ssh.js";

export interface TransportOptions {
  /** NixGuard's runtime directory: ssh control sockets live here. */
  runtimeDir: string;
  /** Overrides the configured ssh command (the simulator's fake ssh, tests). */
  sshCommand?: string;
}

/** The only switch on the transport kind. */
export function createTransport(host: HostSpec, opts: TransportOptions): Transport {
  const t = host.transport;
  switch (t.kind) {
    case "ssh":
      return new SshTransport(t, {
        runtimeDir: opts.runtimeDir,
        ...(opts.sshCommand ? { sshCommand: opts.sshCommand } : {}),
      });
    case "local":
      return new LocalTransport();
    case "exporter":
      return new ExporterTransport(t);
  }
}
