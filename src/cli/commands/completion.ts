import type { Command, Option } from "commander";
import { UsageError } from "../../errors.js";
import type { CommandKit } from "../options.js";

/** Words a shell may offer after each command: its subcommands, options and their fixed values. */
function describe(cmd: Command, prefix: string, out: string[]): void {
  const words = [
    ...cmd.commands.map((c) => c.name()),
    ...cmd.options.flatMap((o: Option) => [o.long, o.short].filter((f): f is string => !!f)),
    "--help",
  ];
  out.push(`    "${prefix}") words="${words.join(" ")}" ;;`);
  for (const o of cmd.options as Option[]) {
    if (o.argChoices && o.long) out.push(`    "${prefix}:${o.long}") words="${o.argChoices.join(" ")}" ;;`);
  }
  for (const c of cmd.commands) describe(c, prefix ? `${prefix} ${c.name()}` : c.name(), out);
}

/**
 * A bash completion script generated from the command tree itself, so it never lags behind a
 * new command or option. zsh loads it through bashcompinit.
 */
export function completionScript(program: Command, shell: "bash" | "zsh"): string {
  const cases: string[] = [];
  describe(program, "", cases);
  const body = `_nixguard() {
  local cur prev path="" words w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    case "\${path:+$path }$w" in
${cases
  .map((c) => c.replace(/^ {4}"([^"]*)"\) .*/, '      "$1") path="$1" ;;'))
  .filter((c) => !c.includes(":"))
  .join("\n")}
    esac
  done
  case "$path:$prev" in
${cases.filter((c) => c.includes(":--") || c.includes(":-")).join("\n")}
    *)
      case "$path" in
${cases.filter((c) => !c.includes(":-")).join("\n")}
      esac ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _nixguard nixguard
`;
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${body}` : body;
}

export function registerCompletion(program: Command, kit: CommandKit): void {
  program
    .command("completion")
    .description("print a shell completion script: source <(nixguard completion bash)")
    .argument("<shell>", "bash or zsh")
    .action((shell: string) => {
      if (shell !== "bash" && shell !== "zsh")
        throw new UsageError(`completion takes bash or zsh (got "${shell}")`);
      kit.io.stdout(completionScript(program, shell));
    });
}
