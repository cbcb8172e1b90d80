import type { Dispatcher } from "undici";
import { ProbeError } from "../../errors.js";
import { rawHeader } from "../http/raw-header.js";

/** More than any node_exporter page; a larger answer is refused, never buffered. */
export const MAX_PAGE = 16 * 1024 * 1024;

/**
 * One node_exporter page as undici's dispatch callbacks deliver it: the status, the declared
 * length and the bytes, with no response object or Readable stream per scrape (at 10,000 hosts,
 * `request()` and `body.text()` spent more on those than on the page). Settles once: `done` with
 * the page as UTF-8 (a leading BOM is whitespace the reader trims), or `failed` with the error
 * that ended it. A page that is not 200, declares more than MAX_PAGE or sends more is refused
 * at once and its connection closed.
 */
export class PageRead implements Dispatcher.DispatchHandler {
  private chunks: Buffer[] = [];
  private size = 0;
  private abortRequest: ((err: Error) => void) | undefined = undefined;
  private settled = false;
  private reason: Error | undefined = undefined;

  constructor(
    private readonly what: string,
    private readonly done: (text: string) => void,
    private readonly failed: (err: Error) => void,
  ) {}

  /** Ends the exchange from outside (the probe's deadline). */
  abort(err: Error): void {
    if (this.abortRequest) this.abortRequest(err);
    else this.fail(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    // Ended while the request still waited for a connection: it must not go out now.
    if (this.reason) abort(this.reason);
  }

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (status !== 200)
      return this.refuse(new ProbeError("PROBE_UNREACHABLE", `${this.what} answered ${status}`));
    const length = Number(rawHeader(raw, "content-length") ?? 0);
    if (length > MAX_PAGE) return this.refuse(tooLarge(this.what, length));
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > MAX_PAGE) return this.refuse(tooLarge(this.what, this.size));
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    const bytes =
      this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    this.done(bytes.toString("utf8", bom));
  }

  onError(err: Error): void {
    this.fail(err);
  }

  private refuse(err: Error): false {
    this.fail(err);
    this.abortRequest?.(err);
    return false;
  }

  private fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reason = err;
    this.chunks = [];
    this.failed(err);
  }
}

const tooLarge = (what: string, bytes: number) =>
  new ProbeError("PROBE_PARSE", `${what}: body of ${bytes} bytes is too large`);
