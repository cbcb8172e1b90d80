import type { SeriesSource } from "../../src/computed-gauge.js";

/** A ComputedGauge source over a table the test owns (and may change between scrapes). */
export type SeriesRows = [labelValues: string[], value: number][];

export function seriesOf(rows: SeriesRows): SeriesSource {
  return () => rows.map(([labels, value]) => ({ labels, value }));
}
