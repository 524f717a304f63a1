#!/usr/bin/env bash
# Sets up what the tests need and runs them all: formatting, lints, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo is not installed; install Rust 1.95 (https://rustup.rs) first" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# Neovim drives the language server in one end-to-end test, Mesa's software
# Vulkan runs the GPU suite, and R's BradleyTerry2 checks `plumb rank`; without
# them those tests report themselves skipped.
wanted=()
command -v nvim >/dev/null || wanted+=(neovim)
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || wanted+=(mesa-vulkan-drivers)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || wanted+=(libvulkan1)
# R's BradleyTerry2 is the reference `plumb rank` is compared with.
Rscript -e 'suppressMessages(library(BradleyTerry2))' >/dev/null 2>&1 || wanted+=(r-cran-bradleyterry2)
if [ ${#wanted[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq "${wanted[@]}") >/dev/null 2>&1 \
        || echo "note: could not install ${wanted[*]}; the tests that need them will be skipped" >&2
fi
export WGPU_BACKEND=vulkan
# libtorch (for the model backend) from PyPI into .venv; .cargo/config.toml points tch at it.
./scripts/setup-libtorch.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (includes plumb check and plumb fmt --check on the examples and the stdlib)"
cargo test --workspace --locked
