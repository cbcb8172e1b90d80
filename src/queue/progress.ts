import { StringDecoder } from "node:string_decoder";

/**
 * Splits a byte stream into lines. A line longer than `maxLine` keeps its start and its end
 * (half each) with the number of characters left out between them, so a child that never prints
 * a newline cannot grow memory, and what it printed last on that line — often the error, or the
 * next message glued to a flood — is still in the log.
 */
export class LineSplitter {
  private partial = "";
  /** Start of the over-long line being read (undefined while the line is short). */
  private head: string | undefined;
  private leftOut = 0;
  private readonly decoder = new StringDecoder("utf8");
  private readonly half: number;
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 8192,
  ) {
    this.half = Math.max(1, Math.floor(maxLine / 2));
  }

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === "string" ? chunk : this.decoder.write(chunk));
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.onLine(this.finish(l));
    this.bound();
  }

  end(): void {
    this.partial += this.decoder.end();
    if (this.partial || this.head !== undefined) this.onLine(this.finish(this.partial));
    this.partial = "";
  }

  /** The whole line whose last part is `rest`; resets the over-long state. */
  private finish(rest: string): string {
    const head = this.head;
    let leftOut = this.leftOut;
    this.head = undefined;
    this.leftOut = 0;
    if (head === undefined) {
      if (rest.length <= this.maxLine) return rest;
      return this.join(rest.slice(0, this.half), rest.length - 2 * this.half, rest.slice(-this.half));
    }
    const tail = rest.length > this.half ? rest.slice(-this.half) : rest;
    leftOut += rest.length - tail.length;
    return this.join(head, leftOut, tail);
  }

  /** Keeps at most the line's start and its last `half` characters while it has no end yet. */
  private bound(): void {
    if (this.head === undefined) {
      if (this.partial.length <= this.maxLine) return;
      this.head = this.partial.slice(0, this.half);
      this.leftOut = this.partial.length - 2 * this.half;
      this.partial = this.partial.slice(-this.half);
    } else if (this.partial.length > this.half) {
      this.leftOut += this.partial.length - this.half;
      this.partial = this.partial.slice(-this.half);
    }
  }

  private join(head: string, leftOut: number, tail: string): string {
    return `${head} … [${leftOut} characters left out] … ${tail}`;
  }
}
