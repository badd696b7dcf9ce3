#!/usr/bin/env bash
# Installs what building and running Rosey needs, if it is missing
# (with --tests, also what only the test suite needs: minisign, git,
# Chromium and chromedriver):
# the wasm32-wasip2 Rust target (for plugins), nats-server (for the host),
# componentize-py (for Python plugins, in a venv under ROSEY_TOOLS_DIR) and
# Node.js with npm (for JavaScript plugins; each project's `npm install`
# brings componentize-js). Safe to run again: it only installs what is absent.
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

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v nats-server >/dev/null 2>&1 && [ -z "${ROSEY_NATS_SERVER:-}" ]; then
    say "installing nats-server"
    if ! apt_install nats-server; then
        echo "error: install nats-server (https://nats.io) or set ROSEY_NATS_SERVER to its path" >&2
        exit 1
    fi
fi

# Only the test suite needs these: minisign, to prove that Rosey's
# signatures and minisign's verify each other; git, for installs from
# repositories (usually present already); Chromium and chromedriver, for
# the dashboard's browser test (tests/tests/dashboard.rs drives a headless
# Chromium over WebDriver; Debian's packages, about 100 MB, once).
if [ "${1:-}" = "--tests" ]; then
    for tool in minisign git; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            say "installing $tool (for the tests)"
            apt_install "$tool" || {
                echo "error: install $tool; the tests need it" >&2
                exit 1
            }
        fi
    done
    if ! command -v chromedriver >/dev/null 2>&1 \
        || ! { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then
        say "installing chromium and chromium-driver (for the dashboard's browser test)"
        apt_install chromium chromium-driver || {
            echo "error: install Chromium and its chromedriver (Debian: apt-get install chromium chromium-driver)" >&2
            exit 1
        }
    fi
fi

# componentize-py, pinned (keep in step with COMPONENTIZE_PY_VERSION in
# cli/src/scaffold/mod.rs), in a venv of its own; scripts/env.sh puts its bin
# on PATH (only it: $TOOLS_DIR/bin links to it, so the venv's python does not
# shadow the system's). About 5 s and 70 MB.
COMPONENTIZE_PY_VERSION=0.25.1
TOOLS_DIR="${ROSEY_TOOLS_DIR:-$HOME/.cache/rosey-tools}"
PY_VENV="$TOOLS_DIR/python"
if [ "$("$PY_VENV/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
    say "installing componentize-py $COMPONENTIZE_PY_VERSION into $PY_VENV (for Python plugins)"
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3 python3-venv || {
            echo "error: install Python 3.10 or newer (python3 with its venv module)" >&2
            exit 1
        }
    fi
    rm -rf "$PY_VENV"
    mkdir -p "$TOOLS_DIR"
    if ! python3 -m venv "$PY_VENV" 2>/dev/null; then
        # Debian and Ubuntu ship venv's ensurepip separately.
        rm -rf "$PY_VENV"
        apt_install python3-venv || true
        python3 -m venv "$PY_VENV"
    fi
    "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
mkdir -p "$TOOLS_DIR/bin"
ln -sf "$PY_VENV/bin/componentize-py" "$TOOLS_DIR/bin/componentize-py"

# Node.js 18+ and npm, for JavaScript plugins. componentize-js itself is a
# devDependency of each project (`rosey plugin build` runs `npm install`,
# 10-15 s); installing it here as well would not make that faster.
node_major="$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p' || true)"
if [ -z "$node_major" ] || [ "$node_major" -lt 18 ] || ! command -v npm >/dev/null 2>&1; then
    say "installing Node.js and npm (for JavaScript plugins)"
    if ! apt_install nodejs npm; then
        echo "error: install Node.js 18 or newer with npm (https://nodejs.org)" >&2
        exit 1
    fi
fi
