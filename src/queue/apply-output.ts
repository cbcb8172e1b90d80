import { type ApplyProgress, ProgressTracker } from "../nixops4/progress.js";
import { OutputRedactor } from "../nixops4/redact.js";
import type { JobLogWriter } from "./job-log.js";
import { formatRecord, type LogStream } from "./log-record.js";
import { LineSplitter } from "./progress.js";

/**
 * An apply's output on its way into the job log: split into lines per stream, resource values
 * left out (redact.ts), each line kept with its stream and the time it was read, and progress
 * taken from both streams (the older nixops4 printed its tracing on stdout, the newer on
 * stderr). Each resource finished also becomes a NixGuard line, so a log follower sees the count.
 */
export class ApplyOutput {
  private readonly tracker = new ProgressTracker();
  private readonly splitters: Record<"stdout" | "stderr", LineSplitter>;

  constructor(
    private readonly writer: JobLogWriter,
    private readonly onProgress: (p: ApplyProgress) => void,
    private readonly now: () => number = Date.now,
  ) {
    const make = (stream: "stdout" | "stderr") => {
      const redactor = new OutputRedactor();
      return new LineSplitter((line) => this.line(stream, redactor.filter(line)));
    };
    this.splitters = { stdout: make("stdout"), stderr: make("stderr") };
  }

  stdout = (chunk: Buffer): void => this.splitters.stdout.push(chunk);
  stderr = (chunk: Buffer): void => this.splitters.stderr.push(chunk);

  /** NixGuard's own line. */
  note(text: string): void {
    this.writer.write(formatRecord(this.now(), "nixguard", text));
  }

  /**
   * The child is gone: what is left of an unfinished line is a line, and the last count is
   * reported (the older nixops4's preview, on stderr, may be read after its tracing on stdout).
   */
  end(): void {
    this.splitters.stdout.end();
    this.splitters.stderr.end();
    this.onProgress(this.tracker.snapshot());
  }

  progress(): ApplyProgress {
    return this.tracker.snapshot();
  }

  private line(stream: LogStream, text: string | undefined): void {
    if (text === undefined) return;
    this.writer.write(formatRecord(this.now(), stream, text));
    const e = this.tracker.push(text);
    if (e?.kind !== "start" && e?.kind !== "finish") return;
    const p = this.tracker.snapshot();
    if (e.kind === "finish")
      this.note(
        `[nixguard] progress: ${p.finished}${p.planned !== undefined ? ` of ${p.planned}` : ""} resources applied (${e.path})`,
      );
    this.onProgress(p);
  }
}
