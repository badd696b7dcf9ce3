#!/usr/bin/env bash
# Sets up a fresh machine, builds the host and the example plugins from
# source, installs them into ./rosey-data, starts Rosey (with a managed local
# nats-server) and opens the chat console. Leave the console with Ctrl-D;
# the host is stopped on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

cargo build --locked -p rosey-cli
rosey="$CARGO_TARGET_DIR/debug/rosey"
export ROSEY_HOME="${ROSEY_HOME:-$PWD/rosey-data}"

for plugin in echo quote-bot; do
    if ! "$rosey" plugin info "$plugin" >/dev/null 2>&1; then
        "$rosey" plugin build "example-plugins/$plugin" -o "$CARGO_TARGET_DIR/$plugin.roseyplug"
        "$rosey" plugin install "$CARGO_TARGET_DIR/$plugin.roseyplug" --yes
    fi
done

"$rosey" start
trap '"$rosey" stop' EXIT
"$rosey" status
echo
echo "Try: !echo hello   !quote add The cake is a lie   !quote   !quote search cake"
"$rosey" chat
