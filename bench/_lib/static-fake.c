/*
 * A remote command that costs as little as a process can: it prints the prepared file
 * $NIXGUARD_FIXTURE/static/NAME (NAME = the name it was run as: systemctl, readlink, df) and exits
 * 0, or exits 1 when there is none. Arguments are ignored. bench/ssh-transport.ts puts it first on
 * the remote PATH so the transport's own cost is not buried under a shell-script fake's.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  (void)argc;
  const char *dir = getenv("NIXGUARD_FIXTURE");
  const char *name = strrchr(argv[0], '/');
  name = name ? name + 1 : argv[0];
  char path[4096];
  if (!dir || snprintf(path, sizeof path, "%s/static/%s", dir, name) >= (int)sizeof path) return 2;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 1;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(1, buf + off, (size_t)(n - off));
      if (w < 0) return 1;
      off += w;
    }
  }
  return 0;
}
