//! Diagnostics: every configuration error and warning, with the file, line and key it concerns.

use std::fmt;
use std::sync::Arc;

/// Where a value came from: a file and a 1-based line (0 when the whole file or
/// the command line is meant).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u32,
}

impl Origin {
    pub fn new(file: impl Into<Arc<str>>, line: u32) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the configuration, printed as `file:line: key: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub origin: Origin,
    pub key: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(origin: Origin, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            origin,
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn warning(origin: Origin, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            origin,
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.key.is_empty() {
            write!(f, "{}: {}: {}", self.origin, level, self.message)
        } else {
            write!(
                f,
                "{}: {}: {}: {}",
                self.origin, self.key, level, self.message
            )
        }
    }
}

/// Collects diagnostics while a configuration is read.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn error(&mut self, origin: Origin, key: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::error(origin, key, message));
    }
    pub fn warning(&mut self, origin: Origin, key: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::warning(origin, key, message));
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
}
