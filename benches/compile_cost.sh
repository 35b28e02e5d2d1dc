#!/bin/sh
# Compile cost of the macros: a crate of N events, each with `derive(DomainEvent)` and a
# `#[handler]`, against the same structs with serde's derives and plain functions.
#
# Both crates are generated into a temporary directory; their dependencies are built once,
# then `cargo build` of each crate alone is timed RUNS times (non-incremental, dev profile)
# and the medians are printed with their ratio. Needs GNU time (`/usr/bin/time`) and `bc`.
#
#   sh benches/compile_cost.sh            # N=200 RUNS=5
#   N=50 RUNS=3 sh benches/compile_cost.sh
#   COMPILE_COST_DIR=/tmp/cc sh benches/compile_cost.sh   # keep the crates and their target
#                                                          # directory there between runs
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-200}
runs=${RUNS:-5}
if [ -n "${COMPILE_COST_DIR:-}" ]; then
    work=$COMPILE_COST_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

generate() {
    kind=$1
    dir=$work/$kind
    mkdir -p "$dir/src"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    if [ "$kind" = tidings ]; then
        dependency="tidings = { path = \"$root/runtime\" }"
    else
        dependency='serde = { version = "1", features = ["derive"] }'
    fi
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "compile-cost-$kind"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$dependency

[workspace]
TOML
    {
        if [ "$kind" = tidings ]; then
            echo "use tidings::{handler, DomainEvent};"
        else
            echo "use serde::{Deserialize, Serialize};"
        fi
        i=0
        while [ "$i" -lt "$n" ]; do
            if [ "$kind" = tidings ]; then
                echo "#[derive(DomainEvent, Debug, Clone)]"
                echo "#[event(name = \"cost.event_$i\", version = 2)]"
            else
                echo "#[derive(Serialize, Deserialize, Debug, Clone)]"
            fi
            echo "pub struct Event$i { pub id: u64, pub customer: String, pub note: Option<String> }"
            if [ "$kind" = tidings ]; then
                echo "#[handler]"
            fi
            echo "pub fn on_event_$i(event: &Event$i) { let _ = (event.id, &event.customer); }"
            i=$((i + 1))
        done
    } > "$dir/src/lib.rs"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Prints the median wall time and the median CPU time (user + system, rustc included): CPU
# time is the steadier figure on a machine that is busy with other work.
measure() {
    dir=$work/$1
    export CARGO_TARGET_DIR="$work/target" CARGO_INCREMENTAL=0
    cargo build --offline --quiet --manifest-path "$dir/Cargo.toml"
    : > "$work/$1.times"
    i=0
    while [ "$i" -lt "$runs" ]; do
        touch "$dir/src/lib.rs"
        /usr/bin/time -f "%e %U %S" -a -o "$work/$1.times" \
            cargo build --offline --quiet --manifest-path "$dir/Cargo.toml"
        i=$((i + 1))
    done
    wall=$(awk '{ print $1 }' "$work/$1.times" | median)
    cpu=$(awk '{ print $2 + $3 }' "$work/$1.times" | median)
    echo "$wall $cpu"
}

generate tidings
generate serde
set -- $(measure serde)
serde_wall=$1 serde_cpu=$2
set -- $(measure tidings)
tidings_wall=$1 tidings_cpu=$2
echo "events: $n, runs: $runs; medians of \`cargo build\` of the crate alone, in seconds"
echo "                                   wall    cpu"
echo "serde derives + plain functions:   $serde_wall  $serde_cpu"
echo "derive(DomainEvent) + #[handler]:  $tidings_wall  $tidings_cpu"
echo "ratio:                             $(echo "scale=2; $tidings_wall / $serde_wall" | bc)   $(echo "scale=2; $tidings_cpu / $serde_cpu" | bc)"
