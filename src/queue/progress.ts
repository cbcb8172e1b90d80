import { StringDecoder } from "node:string_decoder";

/**
 * nixops4 reports progress on stderr in tracing's human format, e.g.
 *   2026-11-23T10:00:00.123456Z  INFO Applying resource: fediversity.mastodon
 * possibly with ANSI colours and span prefixes. Lines naming `Applying resource` become job
 * progress; everything else is just log.
 */
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const APPLYING = /\bINFO\b.*?\b(Applying resource\b.*)$/;

export interface ApplyProgress {
  /** How many `Applying resource` lines were seen so far. */
  step: number;
  /** The line's message from `Applying resource` on, at most 200 characters. */
  message: string;
}

export function parseApplyingLine(line: string): string | undefined {
  const m = APPLYING.exec(line.replace(ANSI, "").trimEnd());
  return m?.[1]?.slice(0, 200);
}

/**
 * Splits a byte stream into lines. A line longer than `maxLine` is cut (its start kept) so a
 * child that never prints a newline cannot grow memory.
 */
export class LineSplitter {
  private partial = "";
  private readonly decoder = new StringDecoder("utf8");
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 8192,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === "string" ? chunk : this.decoder.write(chunk));
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > this.maxLine) this.partial = this.partial.slice(0, this.maxLine);
    for (const l of lines) this.onLine(l.length > this.maxLine ? l.slice(0, this.maxLine) : l);
  }

  end(): void {
    this.partial += this.decoder.end();
    if (this.partial) this.onLine(this.partial);
    this.partial = "";
  }
}
