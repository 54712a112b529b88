//! Which response types jkd compresses and with which codings: from `--compress` or the Apache config's `AddOutputFilterByType DEFLATE|BROTLI_COMPRESS` lines.

use super::diag::Origin;

/// The content codings jkd can apply to a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Codings {
    /// `gzip` (httpd's `DEFLATE` filter).
    pub gzip: bool,
    /// `br` (httpd's `BROTLI_COMPRESS` filter).
    pub br: bool,
}

impl Codings {
    pub const BOTH: Codings = Codings {
        gzip: true,
        br: true,
    };
}

/// One compressible media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressType {
    /// `type/subtype`, lower case, without parameters.
    pub mime: String,
    pub codings: Codings,
    /// The `AddOutputFilterByType` line that named it (`None`: `--compress`).
    pub origin: Option<Origin>,
}

/// The compressible media types; empty: nothing is compressed (httpd without
/// mod_deflate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compression {
    pub types: Vec<CompressType>,
}

impl Compression {
    /// The codings allowed for a response of this `Content-Type` (parameters and case
    /// ignored); `None` when the type is not compressible.
    pub fn codings_for(&self, content_type: &[u8]) -> Option<Codings> {
        if self.types.is_empty() {
            return None;
        }
        let mime = media_type(content_type);
        self.types
            .iter()
            .find(|t| t.mime.as_bytes().eq_ignore_ascii_case(mime))
            .map(|t| t.codings)
    }

    /// Adds `codings` for `mime`, merging with an earlier line for the same type (httpd
    /// adds filters for a type line by line).
    pub fn add(&mut self, mime: &str, codings: Codings, origin: Option<Origin>) {
        let mime = mime.to_ascii_lowercase();
        match self.types.iter_mut().find(|t| t.mime == mime) {
            Some(t) => {
                t.codings.gzip |= codings.gzip;
                t.codings.br |= codings.br;
            }
            None => self.types.push(CompressType {
                mime,
                codings,
                origin,
            }),
        }
    }

    /// Every coding some type is compressed with.
    pub fn any(&self) -> Codings {
        self.types.iter().fold(Codings::default(), |a, t| Codings {
            gzip: a.gzip || t.codings.gzip,
            br: a.br || t.codings.br,
        })
    }

    /// The types of `--compress` flags, each with both codings.
    pub fn from_flags(types: &[String]) -> Compression {
        let mut c = Compression::default();
        for t in types {
            c.add(t, Codings::BOTH, None);
        }
        c
    }
}

/// The `type/subtype` of a `Content-Type` value, without parameters or surrounding
/// whitespace.
pub fn media_type(value: &[u8]) -> &[u8] {
    let end = value.iter().position(|b| *b == b';').unwrap_or(value.len());
    value.get(..end).unwrap_or_default().trim_ascii()
}

/// Whether `text` is a `type/subtype` media type (RFC 9110 §8.3.1 tokens), as
/// `--compress` and `AddOutputFilterByType` take it.
pub fn is_media_type(text: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    match text.split_once('/') {
        Some((t, s)) => token(t) && token(s),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_matches_without_parameters_or_case() {
        let c = Compression::from_flags(&["Text/HTML".to_string()]);
        assert_eq!(
            c.codings_for(b"text/html; charset=UTF-8"),
            Some(Codings::BOTH)
        );
        assert_eq!(c.codings_for(b" TEXT/html"), Some(Codings::BOTH));
        assert_eq!(c.codings_for(b"text/plain"), None);
        assert_eq!(c.codings_for(b"text/htmlx"), None);
        assert_eq!(Compression::default().codings_for(b"text/html"), None);
    }

    #[test]
    fn lines_for_the_same_type_add_up() {
        let mut c = Compression::default();
        c.add(
            "text/css",
            Codings {
                gzip: true,
                br: false,
            },
            None,
        );
        c.add(
            "TEXT/CSS",
            Codings {
                gzip: false,
                br: true,
            },
            None,
        );
        assert_eq!(c.types.len(), 1);
        assert_eq!(c.codings_for(b"text/css"), Some(Codings::BOTH));
    }

    #[test]
    fn media_types_are_checked() {
        assert!(is_media_type("application/vnd.api+json"));
        assert!(!is_media_type("text"));
        assert!(!is_media_type("text/"));
        assert!(!is_media_type("text/html; charset=utf-8"));
    }
}
