//! Behaviour, compile-fail (trybuild) and cross-crate link tests of tidings; see `tests/`.
