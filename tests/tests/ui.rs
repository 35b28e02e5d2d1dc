//! Misuse of the macros is a compile error at the offending token; the shapes in `ui/pass`
//! keep compiling (one of them under strict lints).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui/pass/*.rs");
}
