import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { NixGuardError } from "../errors.js";

/**
 * The demo's TLS endpoint for `--alerts`: a real HTTPS server on loopback with a certificate
 * openssl makes on the spot, valid for `days` days. NixGuard's HTTP check reads its expiry from
 * the handshake (nixguard_http_tls_expiry_timestamp_seconds), so TLSCertExpiringSoon fires on
 * what a real probe saw, not on a made-up value.
 */
export interface DemoTls {
  url: string;
  /** The self-signed certificate, which the check trusts as its CA. */
  certFile: string;
  close(): Promise<void>;
}

/** Days the demo's certificate is valid: inside TLSCertExpiringSoon's 14 days. */
export const DEMO_CERT_DAYS = 7;

export async function startDemoTls(dir: string, hostname: string, days = DEMO_CERT_DAYS): Promise<DemoTls> {
  // The name comes from the simulated layout; checked anyway, since it becomes an argument.
  if (!/^[a-z0-9.-]+$/.test(hostname)) throw new Error(`demo TLS: unexpected hostname ${hostname}`);
  const keyFile = join(dir, "tls-key.pem");
  const certFile = join(dir, "tls-cert.pem");
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        certFile,
        "-days",
        String(days),
        "-subj",
        `/CN=${hostname}`,
        "-addext",
        `subjectAltName=DNS:${hostname}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  } catch (err) {
    throw new NixGuardError(
      "COMMAND_NOT_FOUND",
      `demo --alerts makes a TLS certificate with openssl, which failed or is not installed (apt install openssl): ${(err as Error).message}`,
    );
  }
  const server: Server = createServer(
    { key: readFileSync(keyFile), cert: readFileSync(certFile) },
    (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("OK\n");
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://${hostname}:${port}/`,
    certFile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
