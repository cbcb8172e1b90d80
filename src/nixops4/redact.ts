/**
 * What nixops4 prints that must not be copied into logs anyone with the read scope can see: on
 * success every resource's inputs and outputs ("The following resources were created:", then
 * `    - input k: <json>` / `    - output k: <json>`, the JSON continued on lines indented by
 * twelve spaces), and with -v "Resource inputs for …" / "Resource outputs: …" /
 * "Provider details for …" lines. Inputs of a machine resource hold its ssh options and more;
 * outputs may hold anything a provider returns. The names stay (they say what was created);
 * the values are left out.
 */
export const LEFT_OUT = "[value left out by NixGuard]";

const PROPERTY = /^( {4}- (?:input|output) [^:]*):/;
const VERBOSE = /^(Resource inputs for [^:]*|Resource outputs|Provider details for [^:]*):/;

export class OutputRedactor {
  private inCreated = false;
  private inValue = false;

  /** The line as it may be kept, or undefined to drop it (a continuation of a left-out value). */
  filter(line: string): string | undefined {
    if (line === "The following resources were created:") {
      this.inCreated = true;
      this.inValue = false;
      return line;
    }
    const verbose = VERBOSE.exec(line);
    if (verbose) return `${verbose[1]}: ${LEFT_OUT}`;
    if (!this.inCreated) return line;
    const property = PROPERTY.exec(line);
    if (property) {
      this.inValue = true;
      return `${property[1]}: ${LEFT_OUT}`;
    }
    if (this.inValue && line.startsWith("            ")) return undefined;
    this.inValue = false;
    if (line.startsWith("  - resource ")) return line;
    this.inCreated = false;
    return line;
  }
}
