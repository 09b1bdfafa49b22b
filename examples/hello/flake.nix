# A service without nixpkgs: a tiny script and the data it serves, enough to
# show a closure travelling through a binary cache. `forge` is pointed at
# `path:examples/hello#default` by scripts/quickstart.
{
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      sh = system: attrs: derivation (attrs // { inherit system; builder = "/bin/sh"; PATH = "/bin:/usr/bin"; });
    in {
      packages = forAll (system: rec {
        greeting = sh system {
          name = "hello-greeting";
          args = [ "-c" "mkdir -p $out/share; echo 'hello from a Forge-pushed closure' > $out/share/greeting" ];
        };
        default = sh system {
          name = "hello";
          inherit greeting;
          args = [ "-c" ''
            mkdir -p $out/bin
            printf '#!/bin/sh\ncat %s/share/greeting\n' "$greeting" > $out/bin/hello
            chmod +x $out/bin/hello
          '' ];
        };
      });
    };
}
