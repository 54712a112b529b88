//! The output-filter lines of mod_filter, mod_deflate and mod_brotli: `AddOutputFilterByType DEFLATE|BROTLI_COMPRESS` become jkd's compressed types; the others that jkd does not honour are reported.
//!
//! jkd compresses by the response's media type alone, with fixed settings equal to
//! httpd's defaults (gzip at zlib's level 6, brotli quality 5 with a 2^18 window, the
//! ETag suffixed). Lines that choose otherwise, compress by file name or for every
//! response, or switch compression off per request (`no-gzip`) are warnings, since
//! jkd serves differently from what they say. Where httpd refuses a value, so does
//! this reader (an error).

use super::Reader;
use crate::config::compress::{Codings, is_media_type};
use crate::config::diag::Origin;

/// The directives this module reads (lower case).
const DIRECTIVES: &[&str] = &[
    "addoutputfilterbytype",
    "setoutputfilter",
    "addoutputfilter",
    "removeoutputfilterbytype",
    "deflatecompressionlevel",
    "deflatebuffersize",
    "deflatewindowsize",
    "deflatememlevel",
    "deflatefilternote",
    "deflatealteretag",
    "deflateinflatelimitrequestbody",
    "deflateinflateratioburst",
    "deflateinflateratiolimit",
    "brotlicompressionquality",
    "brotlicompressionwindow",
    "brotlicompressionmaxinputblock",
    "brotlifilternote",
    "brotlialteretag",
    "setenvif",
    "setenvifnocase",
    "browsermatch",
    "browsermatchnocase",
    "setenv",
];

/// The environment variables by which mod_deflate and mod_brotli are switched per
/// request.
const SWITCHES: &[&str] = &["no-gzip", "no-brotli", "gzip-only-text/html", "force-gzip"];

pub(super) fn is_filter_directive(name: &str) -> bool {
    DIRECTIVES.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// The coding a compression filter name stands for.
fn coding_of(filter: &str) -> Option<Codings> {
    if filter.eq_ignore_ascii_case("DEFLATE") {
        Some(Codings {
            gzip: true,
            br: false,
        })
    } else if filter.eq_ignore_ascii_case("BROTLI_COMPRESS") {
        Some(Codings {
            gzip: false,
            br: true,
        })
    } else {
        None
    }
}

impl Reader<'_> {
    pub(super) fn filter_directive(&mut self, name: &str, args: &[String], origin: Origin) {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "addoutputfilterbytype" => self.add_output_filter_by_type(name, args, origin),
            "setoutputfilter" | "addoutputfilter" | "removeoutputfilterbytype" => {
                let compressing = args
                    .first()
                    .is_some_and(|f| f.split(';').any(|f| coding_of(f).is_some()));
                if compressing {
                    self.diags.warning(
                        origin,
                        name,
                        format!(
                            "{name} is not honoured: jkd compresses by response type only \
                             (AddOutputFilterByType or --compress)"
                        ),
                    );
                }
            }
            "deflatecompressionlevel" => self.number(name, args, origin, 1..=9, 6),
            "brotlicompressionquality" => self.number(name, args, origin, 0..=11, 5),
            "brotlicompressionwindow" => self.number(name, args, origin, 10..=24, 18),
            "deflatealteretag" | "brotlialteretag" => {
                let value = args.first().map(String::as_str).unwrap_or("");
                if !value.eq_ignore_ascii_case("AddSuffix") {
                    self.diags.warning(
                        origin,
                        name,
                        format!(
                            "{name} {value} is not honoured: jkd always suffixes the ETag of a \
                             compressed response (-gzip, -br), httpd's default AddSuffix"
                        ),
                    );
                }
            }
            "setenvif" | "setenvifnocase" | "browsermatch" | "browsermatchnocase" | "setenv" => {
                let switch = args.iter().skip(1).find_map(|a| {
                    let var = a.trim_start_matches('!');
                    let var = var.split('=').next().unwrap_or(var);
                    SWITCHES.iter().find(|s| s.eq_ignore_ascii_case(var))
                });
                if let Some(switch) = switch {
                    self.diags.warning(
                        origin,
                        name,
                        format!(
                            "{switch} is not honoured: jkd decides compression by response \
                             type and Accept-Encoding only"
                        ),
                    );
                }
            }
            _ => self.diags.warning(
                origin,
                name,
                format!("{name} is not honoured: jkd compresses with fixed settings"),
            ),
        }
    }

    fn add_output_filter_by_type(&mut self, name: &str, args: &[String], origin: Origin) {
        let (Some(filters), Some(_)) = (args.first(), args.get(1)) else {
            self.diags.error(
                origin,
                name,
                "AddOutputFilterByType needs a filter and at least one media type (httpd \
                 refuses to start)",
            );
            return;
        };
        let mut codings = Codings::default();
        for filter in filters.split(';').filter(|f| !f.is_empty()) {
            match coding_of(filter) {
                Some(c) => {
                    codings.gzip |= c.gzip;
                    codings.br |= c.br;
                }
                None => self.diags.warning(
                    origin.clone(),
                    name,
                    format!(
                        "the {filter} filter is not run: jkd has only DEFLATE and BROTLI_COMPRESS"
                    ),
                ),
            }
        }
        if codings == Codings::default() {
            return;
        }
        if self.vhost_index().is_some() || self.dir_section().is_some() {
            self.diags.warning(
                origin.clone(),
                name,
                "jkd compresses these types in every server and path, not only in this section",
            );
        }
        for mime in args.iter().skip(1) {
            if mime.contains('*') || !is_media_type(mime) {
                self.diags.warning(
                    origin.clone(),
                    name,
                    format!(
                        "'{mime}' is not a type/subtype that jkd matches (it compares media \
                         types exactly); it is left out"
                    ),
                );
                continue;
            }
            self.out
                .compression
                .add(mime, codings, Some(origin.clone()));
        }
    }

    /// A numeric setting: outside `range` httpd refuses to start; another value
    /// than jkd's fixed `used` is a warning.
    fn number(
        &mut self,
        name: &str,
        args: &[String],
        origin: Origin,
        range: std::ops::RangeInclusive<i64>,
        used: i64,
    ) {
        let value = args.first().map(String::as_str).unwrap_or("");
        match value.parse::<i64>() {
            Ok(n) if range.contains(&n) => {
                if n != used {
                    self.diags.warning(
                        origin,
                        name,
                        format!("{name} {n} is not honoured: jkd uses {used} (httpd's default)"),
                    );
                }
            }
            _ => self.diags.error(
                origin,
                name,
                format!(
                    "'{value}' is not between {} and {} (httpd refuses to start)",
                    range.start(),
                    range.end()
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::compress::Codings;
    use crate::config::diag::Diagnostics;
    use std::sync::Arc;

    fn read(conf: &str) -> (super::super::ApacheJk, Vec<String>) {
        let mut diags = Diagnostics::default();
        let file: Arc<str> = Arc::from("httpd.conf");
        let out = super::super::read_apache_conf(&file, conf.as_bytes(), &mut diags);
        let shown = diags.items.iter().map(|d| d.to_string()).collect();
        (out, shown)
    }

    #[test]
    fn add_output_filter_by_type_names_the_types_and_codings() {
        let (out, diags) = read(
            "<IfModule mod_deflate.c>\n\
             AddOutputFilterByType DEFLATE text/html Text/Plain\n\
             </IfModule>\n\
             AddOutputFilterByType BROTLI_COMPRESS;DEFLATE application/json\n\
             AddOutputFilterByType BROTLI_COMPRESS text/html\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let c = &out.compression;
        assert_eq!(c.codings_for(b"text/html"), Some(Codings::BOTH));
        assert_eq!(
            c.codings_for(b"text/plain; charset=utf-8"),
            Some(Codings {
                gzip: true,
                br: false
            })
        );
        assert_eq!(c.codings_for(b"application/json"), Some(Codings::BOTH));
        assert_eq!(c.codings_for(b"image/png"), None);
        assert_eq!(c.types[0].origin.as_ref().map(|o| o.line), Some(2));
    }

    #[test]
    fn what_jkd_does_not_honour_is_a_warning_with_file_and_line() {
        let (out, diags) = read(
            "SetOutputFilter DEFLATE\n\
             DeflateCompressionLevel 9\n\
             DeflateCompressionLevel 6\n\
             BrotliCompressionQuality 5\n\
             SetEnvIfNoCase Request_URI \\.png$ no-gzip dont-vary\n\
             AddOutputFilterByType INCLUDES;DEFLATE text/html text/*\n\
             <VirtualHost *:80>\nAddOutputFilterByType DEFLATE text/css\n</VirtualHost>\n\
             DeflateAlterETag NoChange\n",
        );
        let expect = [
            "httpd.conf:1:",
            "httpd.conf:2:",
            "httpd.conf:5:",
            "httpd.conf:6:",
            "httpd.conf:6:",
            "httpd.conf:8:",
            "httpd.conf:10:",
        ];
        assert_eq!(diags.len(), expect.len(), "{diags:#?}");
        for (d, place) in diags.iter().zip(expect) {
            assert!(d.contains(place), "{d} is not at {place}");
            assert!(d.contains("warning"), "{d}");
        }
        assert!(out.compression.codings_for(b"text/html").is_some());
        assert!(out.compression.codings_for(b"text/css").is_some());
    }

    #[test]
    fn what_httpd_refuses_is_an_error() {
        let (_, diags) = read("AddOutputFilterByType DEFLATE\nDeflateCompressionLevel 12\n");
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert!(diags.iter().all(|d| d.contains("error")), "{diags:#?}");
    }
}
