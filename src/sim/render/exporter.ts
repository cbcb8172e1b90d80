import type { Fleet, SimHost, SimUnit } from "../fleet.js";

/**
 * A host's node_exporter /metrics, as the systemd collector (with
 * --collector.systemd.enable-restarts-metrics and --collector.systemd.enable-start-time-metrics),
 * the filesystem and the loadavg collectors print it: families sorted by name, series by label
 * values, numbers in Go's shortest %g form. Units that are not loaded do not appear at all
 * (node_exporter lists units through ListUnits).
 */

const UNIT_STATES = ["active", "activating", "deactivating", "failed", "inactive"].sort();

/** strconv.FormatFloat(v, 'g', -1, 64), what client_golang uses. */
export function goFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v === 0) return "0";
  const [mantissa, expText] = v.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  // Shortest precision: Go switches to %e when the exponent is < -4 or >= 6.
  if (exp >= -4 && exp < 6) return String(v);
  return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function renderExporter(fleet: Fleet, host: SimHost): string {
  fleet.noteRead(host);
  const units = [...host.units.keys()]
    .sort()
    .map((id) => fleet.unit(host, id))
    .filter((u): u is SimUnit => u !== undefined && u.loadState === "loaded");
  const out: string[] = [];
  const family = (name: string, help: string, type: string, lines: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const fsLabels = `device="/dev/disk/by-label/nixos",device_error="",fstype="ext4",mountpoint="/"`;
  const avail = Math.max(0, Math.floor(host.diskSizeBytes * 0.95) - host.diskUsedBytes);
  family("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", "gauge", [
    `node_filesystem_avail_bytes{${fsLabels}} ${goFloat(avail)}`,
  ]);
  family("node_filesystem_size_bytes", "Filesystem size in bytes.", "gauge", [
    `node_filesystem_size_bytes{${fsLabels}} ${goFloat(host.diskSizeBytes)}`,
  ]);
  family("node_load1", "1m load average.", "gauge", [`node_load1 ${goFloat(host.load[0])}`]);
  family("node_load15", "15m load average.", "gauge", [`node_load15 ${goFloat(host.load[2])}`]);
  family("node_load5", "5m load average.", "gauge", [`node_load5 ${goFloat(host.load[1])}`]);
  family(
    "node_systemd_service_restart_total",
    "Service unit count of Restart triggers",
    "counter",
    units
      .filter((u) => u.id.endsWith(".service"))
      .map((u) => `node_systemd_service_restart_total{name="${esc(u.id)}"} ${u.nRestarts}`),
  );
  family(
    "node_systemd_unit_start_time_seconds",
    "Start time of the unit since unix epoch in seconds.",
    "gauge",
    units.map(
      (u) =>
        `node_systemd_unit_start_time_seconds{name="${esc(u.id)}"} ${
          u.activeState === "active" && u.activeEnterAt !== undefined ? goFloat(u.activeEnterAt / 1000) : "0"
        }`,
    ),
  );
  family(
    "node_systemd_unit_state",
    "Systemd unit",
    "gauge",
    units.flatMap((u) =>
      UNIT_STATES.map(
        (s) =>
          `node_systemd_unit_state{name="${esc(u.id)}",state="${s}",type="${esc(u.type)}"} ${u.activeState === s ? 1 : 0}`,
      ),
    ),
  );
  return `${out.join("\n")}\n`;
}
