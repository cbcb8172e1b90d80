import { describe, expect, it } from "vitest";
import {
  expiredReason,
  formatDuration,
  networkErrorReason,
  notYetValidReason,
  tlsErrorReason,
} from "../../../src/probes/http/reason.js";

const DAY = 86_400_000;

describe("HTTP reasons", () => {
  it("formats durations like a person would", () => {
    expect(formatDuration(31.4)).toBe("31 ms");
    expect(formatDuration(10_000)).toBe("10 s");
    expect(formatDuration(1500)).toBe("1.5 s");
  });

  it("says how long ago a certificate expired", () => {
    expect(expiredReason(0, 2 * DAY + 5000)).toBe("certificate expired 2 days ago");
    expect(expiredReason(0, DAY)).toBe("certificate expired 1 day ago");
    expect(expiredReason(0, 3 * 3_600_000)).toBe("certificate expired 3 hours ago");
    expect(expiredReason(0, 1000)).toBe("certificate expired 1 minute ago");
    expect(notYetValidReason(3 * DAY, 0)).toBe("certificate not valid for 3 days yet");
  });

  it("words TLS and network errors", () => {
    expect(tlsErrorReason("DEPTH_ZERO_SELF_SIGNED_CERT")).toBe("certificate not trusted: self-signed");
    expect(tlsErrorReason("CERT_REVOKED")).toBe("certificate not trusted: CERT_REVOKED");
    expect(networkErrorReason({ code: "ECONNREFUSED" })).toBe("connection refused");
    expect(networkErrorReason({ code: "UND_ERR_SOCKET", cause: { code: "ECONNRESET" } })).toBe(
      "connection reset",
    );
  });
});
