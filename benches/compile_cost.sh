#!/bin/sh
# Compile cost of the macros: a crate of N events, each with `derive(DomainEvent)` and a
# `#[handler]`, against the same structs with serde's derives and plain functions, and
# against those plus the least a program writes by hand to route JSON by name to them.
#
# The crates are generated into a temporary directory; their dependencies are built once,
# then `cargo build` of each crate alone is timed RUNS times (non-incremental, dev profile)
# and the medians are printed with their ratios. Needs GNU time (`/usr/bin/time`) and `bc`.
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

# The routing table by hand: a decoder and an encoder per type, and a call that downcasts.
by_hand_prelude() {
    cat <<'RUST'
use serde::{Deserialize, Serialize};
use std::any::Any;

pub struct Route {
    pub name: &'static str,
    pub decode: fn(&str) -> serde_json::Result<Box<dyn Any + Send + Sync>>,
    pub encode: fn(&dyn Any) -> Option<serde_json::Result<String>>,
    pub handle: fn(&dyn Any) -> bool,
}

fn decode<T: for<'de> Deserialize<'de> + Send + Sync + 'static>(
    text: &str,
) -> serde_json::Result<Box<dyn Any + Send + Sync>> {
    Ok(Box::new(serde_json::from_str::<T>(text)?))
}

fn encode<T: Serialize + 'static>(value: &dyn Any) -> Option<serde_json::Result<String>> {
    value.downcast_ref::<T>().map(serde_json::to_string)
}

fn handle<T: 'static>(value: &dyn Any, f: fn(&T)) -> bool {
    value.downcast_ref::<T>().map(f).is_some()
}
RUST
}

generate() {
    kind=$1
    dir=$work/$kind
    mkdir -p "$dir/src"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    case $kind in
        tidings) dependency="tidings = { path = \"$root/runtime\" }" ;;
        serde) dependency='serde = { version = "1", features = ["derive"] }' ;;
        *) dependency='serde = { version = "1", features = ["derive"] }
serde_json = "1"' ;;
    esac
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
        case $kind in
            tidings) echo "use tidings::{handler, DomainEvent};" ;;
            serde) echo "use serde::{Deserialize, Serialize};" ;;
            *) by_hand_prelude ;;
        esac
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
        if [ "$kind" = by-hand ]; then
            echo "pub static ROUTES: [Route; $n] = ["
            i=0
            while [ "$i" -lt "$n" ]; do
                echo "    Route { name: \"cost.event_$i\", decode: decode::<Event$i>, encode: encode::<Event$i>, handle: |e| handle(e, on_event_$i) },"
                i=$((i + 1))
            done
            echo "];"
        fi
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

ratio() {
    echo "scale=2; $1 / $2" | bc
}

generate tidings
generate serde
generate by-hand
set -- $(measure serde)
serde_wall=$1 serde_cpu=$2
set -- $(measure by-hand)
hand_wall=$1 hand_cpu=$2
set -- $(measure tidings)
tidings_wall=$1 tidings_cpu=$2
echo "events: $n, runs: $runs; medians of \`cargo build\` of the crate alone, in seconds"
echo "                                     wall    cpu     to serde (wall, cpu)"
echo "serde derives + plain functions:     $serde_wall  $serde_cpu   1"
echo "  + a routing table by hand:         $hand_wall  $hand_cpu   $(ratio "$hand_wall" "$serde_wall")  $(ratio "$hand_cpu" "$serde_cpu")"
echo "derive(DomainEvent) + #[handler]:    $tidings_wall  $tidings_cpu   $(ratio "$tidings_wall" "$serde_wall")  $(ratio "$tidings_cpu" "$serde_cpu")"
echo "tidings to the table by hand:        $(ratio "$tidings_wall" "$hand_wall")  $(ratio "$tidings_cpu" "$hand_cpu")"
