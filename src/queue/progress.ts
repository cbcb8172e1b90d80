import { StringDecoder } from "node:string_decoder";

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
