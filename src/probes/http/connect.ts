import { isIP, connect as netConnect, type Socket } from "node:net";
import { TLSSocket, connect as tlsConnect } from "node:tls";
import type { buildConnector } from "undici";

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
  seen: TlsSeen;
  /** Gets each socket as soon as it is opened, so the probe's deadline can end any phase. */
  onSocket: (socket: Socket) => void;
}

/**
 * An undici connector (its documented `connect` option) for one probe: a fresh connection every
 * time (the probe measures what a visitor's first request would meet), optionally to a fixed
 * address while SNI and Host stay the public name. Verification runs after the handshake, by
 * hand, so an expired certificate's dates are still recorded.
 *
 * Written on node:net/node:tls rather than undici's buildConnector for two reasons. The probe
 * must hold the socket from the start: a server that accepts but never finishes the TLS handshake
 * leaves undici's request pending with no socket it could close, so the deadline destroys the
 * socket itself. And buildConnector's own connect timeout keeps a WeakRef to the socket in a timer
 * list swept every 500 ms; V8's minor GCs treat a WeakRef's target as reachable, so every probe's
 * socket, client and request survived two of them and was promoted to the old generation —
 * megabytes a second that only a full GC collects.
 */
export function probeConnector(opts: ConnectOptions): buildConnector.connector {
  const servername = isIP(opts.hostname) === 0 ? opts.hostname : undefined;
  return ({ hostname, protocol, port }, callback) => {
    const host = opts.resolve ?? hostname;
    const secure = protocol === "https:";
    const socket: Socket = secure
      ? tlsConnect({
          host,
          port: Number(port) || 443,
          ...(servername ? { servername } : {}),
          ...(opts.ca ? { ca: opts.ca } : {}),
          rejectUnauthorized: false,
          ALPNProtocols: ["http/1.1"],
        })
      : netConnect({ host, port: Number(port) || 80 });
    socket.setNoDelay(true);
    opts.onSocket(socket);
    const onError = (err: Error) => callback(err, null);
    socket.once("error", onError);
    socket.once(secure ? "secureConnect" : "connect", () => {
      socket.removeListener("error", onError);
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
    });
  };
}
