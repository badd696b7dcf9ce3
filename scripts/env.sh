# Sourced by the scripts: one build cache outside the clone, shared by the
# host build, the tests and the guest components.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rosey-target}"
export ROSEY_GUEST_TARGET_DIR="${ROSEY_GUEST_TARGET_DIR:-$CARGO_TARGET_DIR/guests}"
# componentize-py for Python plugins, installed by scripts/setup.sh.
export ROSEY_TOOLS_DIR="${ROSEY_TOOLS_DIR:-$HOME/.cache/rosey-tools}"
case ":$PATH:" in
    *":$ROSEY_TOOLS_DIR/bin:"*) ;;
    *) export PATH="$ROSEY_TOOLS_DIR/bin:$PATH" ;;
esac
