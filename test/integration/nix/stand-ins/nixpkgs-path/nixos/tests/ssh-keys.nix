# Stand-in for nixpkgs' nixos/tests/ssh-keys.nix (the VM tests' throwaway key pair):
# the same attribute names; the key text is a placeholder, since nothing here
# connects anywhere.
pkgs: {
  snakeOilPrivateKey = pkgs.writeText "privkey.snakeoil" "-----BEGIN OPENSSH PRIVATE KEY----- stand-in";
  snakeOilPublicKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= stand-in";
  snakeOilEd25519PrivateKey = pkgs.writeText "privkey.snakeoil" "-----BEGIN OPENSSH PRIVATE KEY----- stand-in";
  snakeOilEd25519PublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 stand-in";
}
