/**
 * Hostile values that must never reach an ssh or nixops4 argv or a remote shell line.
 * Shared by the config tests, the API tests and the security suite.
 */
export const HOSTILE_VALUES: readonly string[] = [
  "foo.service;reboot",
  "-oProxyCommand=touch /tmp/x",
  "-oProxyCommand=x",
  "$(id)",
  "`id`",
  "a\nb",
  "a\u0000b",
  "../../etc/passwd",
  "foo.service && reboot",
  "foo.service|sh",
  "x'y",
  'x"y',
  "foo service",
  "--help",
  "-",
  "",
  "a\rb",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the point
  "${IFS}",
  "foo.service\n",
  "> /etc/passwd",
];
