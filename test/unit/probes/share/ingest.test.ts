import { describe, expect, it } from "vitest";
import { allHosts, type HostSpec, hostKey } from "../../../../src/config/desired.js";
import { ingestBatch } from "../../../../src/probes/share/ingest.js";
import {
  type StreamedObservation,
  specFingerprint,
} from "../../../../src/probes/share/observation-stream.js";
import { fleetConfig } from "../../controller/fixtures.js";

const loaded = fleetConfig();
const specs = new Map(allHosts(loaded.desired).map((h) => [hostKey(h.deployment, h.name), h]));
const [first, second] = [...specs.values()] as [HostSpec, HostSpec];
const key = (s: HostSpec) => hostKey(s.deployment, s.name);

let n = 0;
const entry = (spec: HostSpec, at: number, over: Partial<StreamedObservation> = {}): StreamedObservation => ({
  id: `${n++}-0`,
  key: key(spec),
  prober: "p",
  at,
  fingerprint: specFingerprint(spec),
  text: "{}",
  ...over,
});

const ctx = (last: Record<string, number> = {}) => ({
  spec: (k: string) => specs.get(k),
  oldest: 1_000,
  lastAt: (s: HostSpec) => last[key(s)],
});

describe("the leader's intake of streamed observations", () => {
  it("takes the newest per host of a batch, whatever order the entries came in", () => {
    const { accepted, counts } = ingestBatch(
      [entry(first, 5_000), entry(first, 6_000), entry(first, 5_500), entry(second, 4_000)],
      ctx(),
    );
    expect(accepted.map((a) => [key(a.spec), a.entry.at])).toEqual([
      [key(first), 6_000],
      [key(second), 4_000],
    ]);
    expect(counts).toEqual({ accepted: 2, old: 0, duplicate: 2, unknown: 0 });
  });

  it("never one older than or as old as what the book has (two probers of one host for a moment)", () => {
    const { accepted, counts } = ingestBatch(
      [entry(first, 5_000), entry(second, 7_000)],
      ctx({ [key(first)]: 5_000, [key(second)]: 6_000 }),
    );
    expect(accepted.map((a) => key(a.spec))).toEqual([key(second)]);
    expect(counts.duplicate).toBe(1);
  });

  it("drops what is older than the health age, of an unknown host, or asked under another config", () => {
    const { accepted, counts } = ingestBatch(
      [
        entry(first, 999),
        entry(second, 2_000, { key: "nope/nope" }),
        entry(second, 2_000, { fingerprint: "other" }),
      ],
      ctx(),
    );
    expect(accepted).toEqual([]);
    expect(counts).toEqual({ accepted: 0, old: 1, duplicate: 0, unknown: 2 });
  });

  it("the fingerprint follows what a probe asks: units and HTTP checks", () => {
    expect(specFingerprint(first)).toBe(specFingerprint({ ...first }));
    expect(specFingerprint({ ...first, units: first.units.slice(1) })).not.toBe(specFingerprint(first));
    const withHttp = [...specs.values()].find((s) => s.http.length > 0) as HostSpec;
    expect(specFingerprint({ ...withHttp, http: [] })).not.toBe(specFingerprint(withHttp));
  });
});
