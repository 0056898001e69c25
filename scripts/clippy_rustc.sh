#!/usr/bin/env bash
# RUSTC_WORKSPACE_WRAPPER for scripts/test.sh: cargo calls it as `clippy_rustc.sh RUSTC ARGS...`
# for the workspace's own crates (never for dependencies). clippy-driver compiles them as rustc
# would and lints them; -D warnings makes any rustc or clippy warning an error, as
# `cargo clippy -- -D warnings` does.
exec clippy-driver "$@" -D warnings
