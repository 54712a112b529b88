#!/usr/bin/env bash
# Runs the project's checks: formatting, lints (warnings are errors) and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --no-fail-fast
