/** Short human wording for HTTP check results: read in logs, events and the status page. */

/** `31 ms`, `1.5 s`, `10 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : Number(s.toFixed(1))} s`;
}

function ago(ms: number): string {
  const minutes = Math.max(1, Math.floor(ms / 60_000));
  const hours = Math.floor(ms / 3_600_000);
  const days = Math.floor(ms / 86_400_000);
  if (days >= 1) return `${days} day${days === 1 ? "" : "s"}`;
  if (hours >= 1) return `${hours} hour${hours === 1 ? "" : "s"}`;
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** `certificate expired 2 days ago`. */
export const expiredReason = (expiresAt: number, now: number) =>
  `certificate expired ${ago(Math.max(0, now - expiresAt))} ago`;

/** `certificate not valid for 3 days yet`. */
export const notYetValidReason = (validFrom: number, now: number) =>
  `certificate not valid for ${ago(Math.max(0, validFrom - now))} yet`;

/** Node's TLS verification codes, worded for a person. */
export function tlsErrorReason(code: string): string {
  switch (code) {
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
      return "certificate not trusted: self-signed";
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_GET_ISSUER_CERT":
      return "certificate not trusted: unknown issuer";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "certificate does not match the host name";
    default:
      return `certificate not trusted: ${code}`;
  }
}

/** Connection-level failures (`connection refused`), from Node/undici error codes. */
export function networkErrorReason(e: unknown): string {
  const err = e as { code?: string; cause?: { code?: string }; message?: string };
  const code = err.code === "UND_ERR_SOCKET" && err.cause?.code ? err.cause.code : err.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timeout";
    case "EPROTO":
    case "ERR_SSL_WRONG_VERSION_NUMBER":
      return "TLS handshake failed";
    default:
      return code ?? "request failed";
  }
}
