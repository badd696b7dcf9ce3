#!/usr/bin/env bash
# Installs what building and running Rosey needs, if it is missing:
# the wasm32-wasip2 Rust target (for plugins) and nats-server (for the host).
# Safe to run again: it only installs what is absent.
set -euo pipefail

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo was not found; install Rust first (https://rustup.rs)" >&2
    exit 1
fi

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        say "adding the wasm32-wasip2 target (a one-time download of a minute or more)"
        rustup target add wasm32-wasip2
    fi
else
    echo "warning: rustup not found; make sure your toolchain has the wasm32-wasip2 target" >&2
fi

if ! command -v nats-server >/dev/null 2>&1 && [ -z "${ROSEY_NATS_SERVER:-}" ]; then
    say "installing nats-server"
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq nats-server >/dev/null
    else
        echo "error: install nats-server (https://nats.io) or set ROSEY_NATS_SERVER to its path" >&2
        exit 1
    fi
fi
