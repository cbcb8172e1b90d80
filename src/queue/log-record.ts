/**
 * One line of a job's log as it is kept: when NixGuard read it, which stream it came from, and
 * its text — `<epoch ms> <o|e|n> <text>\n`, one record per line, so the log stays a plain
 * append-only string that can be trimmed from the front (job-log.ts) and followed by offset.
 * `n` marks NixGuard's own lines (what it ran, progress, the outcome).
 */
export type LogStream = "stdout" | "stderr" | "nixguard";

export interface LogRecord {
  time: number;
  stream: LogStream;
  text: string;
}

const CODE: Record<LogStream, string> = { stdout: "o", stderr: "e", nixguard: "n" };
const STREAM: Record<string, LogStream> = { o: "stdout", e: "stderr", n: "nixguard" };
const RECORD = /^(\d{1,15}) ([oen]) (.*)$/s;

export function formatRecord(time: number, stream: LogStream, text: string): string {
  // A record is one line: a stray newline or carriage return inside would forge the next one.
  return `${time} ${CODE[stream]} ${text.replace(/[\r\n]/g, " ")}\n`;
}

/**
 * One kept line back as a record. A line that is not one (the front of a log trimmed mid-record,
 * a log written before records existed) is kept as stderr text read at `fallbackTime`.
 */
export function parseRecord(line: string, fallbackTime: number): LogRecord {
  const m = RECORD.exec(line);
  if (m?.[1] && m[2]) return { time: Number(m[1]), stream: STREAM[m[2]] ?? "stderr", text: m[3] ?? "" };
  return { time: fallbackTime, stream: "stderr", text: line };
}
