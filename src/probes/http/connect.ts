import { isIP } from "node:net";
import { TLSSocket } from "node:tls";
import { buildConnector } from "undici";

/** What the TLS handshake showed, kept even when verification fails (to report expiry). */
export interface TlsSeen {
  validFrom?: number;
  validTo?: number;
  /** Node's verification error code (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, ...). */
  error?: string;
}

export class TlsVerifyError extends Error {
  readonly code = "NIXGUARD_TLS_VERIFY";
  constructor(readonly tlsCode: string) {
    super(`TLS verification failed: ${tlsCode}`);
  }
}

export interface ConnectOptions {
  /** Connect here instead of resolving the URL's host (curl --resolve). */
  resolve?: string;
  /** The URL's host name: SNI and certificate identity. */
  hostname: string;
  verify: boolean;
  ca?: Buffer;
  connectTimeoutMs: number;
  seen: TlsSeen;
}

/**
 * undici's connector for a timeout, without a CA of its own: it keeps no state between
 * connections (no TLS session is cached), yet building one allocates a session map and a
 * FinalizationRegistry, which per HTTP check was a steady share of the probe path's garbage. One
 * per distinct timeout (a handful of configured values) is shared. A check with caFile builds its
 * own, since the file is read per probe.
 */
const plainConnectors = new Map<number, buildConnector.connector>();

function baseConnector(timeout: number, ca: Buffer | undefined): buildConnector.connector {
  const build = () =>
    buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0, timeout, ...(ca ? { ca } : {}) });
  if (ca) return build();
  let c = plainConnectors.get(timeout);
  if (!c) {
    c = build();
    plainConnectors.set(timeout, c);
  }
  return c;
}

/**
 * An undici connector for one probe: a fresh connection every time (the probe measures what a
 * visitor's first request would meet), optionally to a fixed address while SNI and Host stay the
 * public name. Verification runs after the handshake, by hand, so an expired certificate's
 * dates are still recorded.
 */
export function probeConnector(opts: ConnectOptions): buildConnector.connector {
  const base = baseConnector(opts.connectTimeoutMs, opts.ca);
  const servername = isIP(opts.hostname) === 0 ? opts.hostname : undefined;
  return (params, callback) => {
    base(
      {
        ...params,
        ...(opts.resolve ? { hostname: opts.resolve } : {}),
        ...(servername && params.protocol === "https:" ? { servername } : {}),
      },
      (err, socket) => {
        if (err || !socket) {
          callback(err ?? new Error("connect failed"), null);
          return;
        }
        if (socket instanceof TLSSocket) {
          const cert = socket.getPeerCertificate();
          if (cert?.valid_to) {
            opts.seen.validTo = Date.parse(cert.valid_to);
            opts.seen.validFrom = Date.parse(cert.valid_from);
          }
          if (!socket.authorized) {
            const code = String(socket.authorizationError ?? "UNKNOWN");
            opts.seen.error = code;
            if (opts.verify) {
              socket.destroy();
              callback(new TlsVerifyError(code), null);
              return;
            }
          }
        }
        callback(null, socket);
      },
    );
  };
}
