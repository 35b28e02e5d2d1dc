//! `Location`: where a registered item, or a builder call, is in the source.

/// Where a macro was used: the file and line of the item, and its module path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    file: &'static str,
    line: u32,
    module: &'static str,
}

impl Location {
    #[doc(hidden)]
    pub const fn new(file: &'static str, line: u32, module: &'static str) -> Location {
        Location { file, line, module }
    }

    /// The location of the caller of a `#[track_caller]` function (module unknown).
    #[track_caller]
    pub(crate) fn caller() -> Location {
        let at = std::panic::Location::caller();
        Location::new(at.file(), at.line(), "")
    }

    /// The source file, relative to its package as `file!()` gives it.
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the item's name.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The module path of the item, starting with its crate's name.
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// The name of the crate the item is defined in.
    pub fn krate(&self) -> &'static str {
        self.module.split("::").next().unwrap_or(self.module)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}
