//! What jkd answers itself instead of forwarding, as httpd did in front of mod_jk: `Redirect`/`RedirectMatch` answers, and files from `Alias` directories and the document root (conditional requests, ranges and HEAD by hyper-staticfile), never a directory listing and never a file outside the directory the URL maps to.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::plain;
use crate::config::static_files::StaticFiles;
use crate::runtime::ProxyBody;

/// The answer of the first `Redirect`/`RedirectMatch` matching the request, if any.
/// Rules see the path as sent (percent-encoded), so what they copy into `Location`
/// is still a valid URL.
pub fn redirect(site: &StaticFiles, parts: &http::request::Parts) -> Option<Response<ProxyBody>> {
    let answer = site.redirect_for(parts.uri.path(), parts.uri.query())?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FOUND);
    let mut resp = plain(status.as_u16(), status.canonical_reason().unwrap_or(""));
    if let Some(location) = answer.location {
        match HeaderValue::from_str(&location) {
            Ok(v) => {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Err(_) => {
                tracing::warn!(%location, "a redirect made a Location that is not a valid header value");
                return Some(plain(500, "Internal Server Error"));
            }
        }
    }
    Some(resp)
}

/// Serves a request no mount rule maps from an `Alias` directory or the document
/// root. `None` when neither applies (the caller answers 404 as without static files).
pub async fn serve(
    site: &StaticFiles,
    parts: &http::request::Parts,
) -> Option<Response<ProxyBody>> {
    if !site.serves_files() {
        return None;
    }
    let clean = match clean_request_path(parts.uri.path()) {
        Ok(clean) => clean,
        Err(status) => return Some(refusal(status)),
    };
    let (directory, rest) = site.directory_for(&clean.lookup)?;
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let base = directory.clone();
    let indexes = site.directory_index.clone();
    let names_directory = clean.names_directory;
    let located =
        tokio::task::spawn_blocking(move || locate(&base, &segments, names_directory, &indexes))
            .await
            .unwrap_or(Located::Refused(StatusCode::INTERNAL_SERVER_ERROR));
    Some(match located {
        Located::Refused(status) => refusal(status),
        Located::AddSlash => {
            // mod_dir's answer for a directory named without its slash, so that
            // relative links in its index resolve inside it.
            let mut location = format!("{}/", parts.uri.path());
            if let Some(q) = parts.uri.query() {
                location.push('?');
                location.push_str(q);
            }
            let mut resp = plain(301, "Moved Permanently");
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Located::File {
            file,
            size,
            modified,
            path,
        } => {
            if parts.method != Method::GET && parts.method != Method::HEAD {
                let mut resp = plain(405, "Method Not Allowed");
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return Some(resp);
            }
            file_response(parts, file, size, modified, path)
        }
    })
}

fn refusal(status: StatusCode) -> Response<ProxyBody> {
    plain(status.as_u16(), status.canonical_reason().unwrap_or(""))
}

/// A request path made safe to look up on disk.
#[derive(Debug, PartialEq, Eq)]
struct CleanPath {
    /// Decoded, without `.`, `..` and empty segments; ends with `/` when the request
    /// names a directory (what `Alias` URL paths are matched against).
    lookup: String,
    names_directory: bool,
}

/// Decodes and normalises a request path, refusing what could name something else
/// than a file below the served directory: encoded `/` and `\` (httpd's
/// `AllowEncodedSlashes Off` answers 404), a backslash, NUL and other control bytes,
/// bytes that are not UTF-8 (overlong forms of `.` and `/` among them), `..` above
/// the root (400, as httpd) and `.ht*` files (httpd's default configuration denies
/// them).
fn clean_request_path(raw: &str) -> Result<CleanPath, StatusCode> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let byte = if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(StatusCode::BAD_REQUEST)?;
            if hex == b'/' {
                return Err(StatusCode::NOT_FOUND);
            }
            i += 3;
            hex
        } else {
            i += 1;
            b
        };
        if byte == b'\\' || byte < 0x20 || byte == 0x7f {
            return Err(StatusCode::NOT_FOUND);
        }
        decoded.push(byte);
    }
    let text = String::from_utf8(decoded).map_err(|_| StatusCode::NOT_FOUND)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut last = "";
    for segment in text.split('/') {
        last = segment;
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(StatusCode::BAD_REQUEST)?;
            }
            s => segments.push(s),
        }
    }
    if segments.iter().any(|s| s.starts_with(".ht")) {
        return Err(StatusCode::FORBIDDEN);
    }
    let names_directory = matches!(last, "" | "." | "..");
    let mut lookup = format!("/{}", segments.join("/"));
    if names_directory && !segments.is_empty() {
        lookup.push('/');
    }
    Ok(CleanPath {
        lookup,
        names_directory,
    })
}

/// Where a clean path leads on disk.
#[derive(Debug)]
enum Located {
    File {
        file: File,
        size: u64,
        modified: Option<SystemTime>,
        path: PathBuf,
    },
    /// A directory named without a trailing slash.
    AddSlash,
    Refused(StatusCode),
}

/// Finds the file `segments` name below `base`, following symbolic links only where
/// they stay below it (the resolved path must start with the resolved base), and a
/// directory's first index file; a directory without one is refused (no listing).
fn locate(base: &Path, segments: &[String], names_directory: bool, indexes: &[String]) -> Located {
    let root = match std::fs::canonicalize(base) {
        Ok(root) => root,
        Err(e) => {
            tracing::warn!(directory = %base.display(), "cannot serve from this directory: {e}");
            return Located::Refused(StatusCode::NOT_FOUND);
        }
    };
    let mut candidate = root.clone();
    candidate.extend(segments);
    let real = match resolve_below(&root, &candidate) {
        Ok(real) => real,
        Err(status) => return Located::Refused(status),
    };
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return Located::Refused(status_of_io(&e)),
    };
    if meta.is_dir() {
        if !names_directory {
            return Located::AddSlash;
        }
        for index in indexes {
            if let Ok(found) = resolve_below(&root, &real.join(index))
                && std::fs::metadata(&found).is_ok_and(|m| m.is_file())
            {
                return open(found);
            }
        }
        return Located::Refused(StatusCode::FORBIDDEN);
    }
    if names_directory {
        // `/file.txt/`: httpd has no path info for plain files either.
        return Located::Refused(StatusCode::NOT_FOUND);
    }
    open(real)
}

/// `path` with every symbolic link resolved, when that stays below `root`.
fn resolve_below(root: &Path, path: &Path) -> Result<PathBuf, StatusCode> {
    let real = std::fs::canonicalize(path).map_err(|e| status_of_io(&e))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        tracing::info!(path = %path.display(), target = %real.display(), "refused: a symbolic link leads outside the served directory");
        Err(StatusCode::FORBIDDEN)
    }
}

/// Opens a regular file found by [`locate`]. The path has no symbolic link left, and
/// O_NOFOLLOW keeps a link put in its place since from being followed.
fn open(path: PathBuf) -> Located {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .and_then(|file| file.metadata().map(|meta| (file, meta)));
    match opened {
        // Devices, FIFOs and sockets are not files to send.
        Ok((_, meta)) if !meta.is_file() => Located::Refused(StatusCode::FORBIDDEN),
        Ok((file, meta)) => Located::File {
            file,
            size: meta.len(),
            modified: meta.modified().ok(),
            path,
        },
        Err(e) => Located::Refused(status_of_io(&e)),
    }
}

fn status_of_io(e: &io::Error) -> StatusCode {
    match e.kind() {
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::NOT_FOUND,
    }
}

/// The response for an opened file: hyper-staticfile answers `Range`, `If-Range`,
/// `If-Modified-Since` and HEAD and sets ETag and Last-Modified; jkd adds what it
/// leaves out: `If-None-Match` (which takes precedence over `If-Modified-Since`,
/// RFC 9110 §13.2.2), the Content-Type of HEAD and single-range answers, and the
/// Content-Range of a 416.
fn file_response(
    parts: &http::request::Parts,
    file: File,
    size: u64,
    modified: Option<SystemTime>,
    path: PathBuf,
) -> Response<ProxyBody> {
    let headers = &parts.headers;
    let content_type = mime_guess::from_path(&path).first_raw();
    let resolved = hyper_staticfile::ResolvedFile {
        handle: tokio::fs::File::from_std(file),
        path,
        size,
        modified,
        content_type: content_type.map(str::to_string),
        encoding: None,
    };
    let mut builder = hyper_staticfile::util::FileResponseBuilder::new();
    builder
        .request_method(&parts.method)
        .range_header(headers.get(header::RANGE))
        .if_range(headers.get(header::IF_RANGE));
    let none_match = headers.contains_key(header::IF_NONE_MATCH);
    if !none_match {
        builder.if_modified_since_header(headers.get(header::IF_MODIFIED_SINCE));
    }
    let (mut head, body) = match builder.build(resolved) {
        Ok(resp) => resp.into_parts(),
        Err(e) => {
            tracing::warn!("cannot build the response for a static file: {e}");
            return plain(500, "Internal Server Error");
        }
    };
    if none_match
        && let Some(etag) = head.headers.get(header::ETAG)
        && none_match_hits(headers, etag)
    {
        let mut resp = Response::new(ProxyBody::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [header::ETAG, header::LAST_MODIFIED] {
            if let Some(v) = head.headers.get(&name) {
                resp.headers_mut().insert(name, v.clone());
            }
        }
        return resp;
    }
    if matches!(head.status, StatusCode::OK | StatusCode::PARTIAL_CONTENT)
        && !head.headers.contains_key(header::CONTENT_TYPE)
        && let Some(t) = content_type
    {
        head.headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
    }
    if head.status == StatusCode::RANGE_NOT_SATISFIABLE
        && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
    {
        head.headers.insert(header::CONTENT_RANGE, v);
    }
    Response::from_parts(head, ProxyBody::File(Box::pin(body)))
}

/// Whether `If-None-Match` names `etag` or is `*` (weak comparison, as RFC 9110
/// §13.1.2 asks for GET and HEAD).
fn none_match_hits(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let Ok(ours) = etag.to_str().map(opaque) else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> Result<(String, bool), u16> {
        clean_request_path(raw)
            .map(|c| (c.lookup, c.names_directory))
            .map_err(|s| s.as_u16())
    }

    #[test]
    fn paths_are_decoded_and_normalised() {
        assert_eq!(clean("/"), Ok(("/".into(), true)));
        assert_eq!(clean("/a/b.txt"), Ok(("/a/b.txt".into(), false)));
        assert_eq!(clean("/a//./b/"), Ok(("/a/b/".into(), true)));
        assert_eq!(clean("/a/../b"), Ok(("/b".into(), false)));
        assert_eq!(clean("/caf%C3%A9"), Ok(("/café".into(), false)));
        assert_eq!(clean("/a/.."), Ok(("/".into(), true)));
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for raw in [
            "/%2f/etc/passwd",
            "/..%2fetc",
            "/%5c..%5cetc",
            "/a\\..\\b",
            "/%00",
            "/a%0a",
            "/%c0%ae%c0%ae/etc",
            "/%e0%80%ae",
        ] {
            assert_eq!(clean(raw).map(|_| ()), Err(404), "{raw}");
        }
        for raw in [
            "/../etc/passwd",
            "/%2e%2e/etc",
            "/a/../../etc",
            "/%zz",
            "/%2",
        ] {
            assert_eq!(clean(raw).map(|_| ()), Err(400), "{raw}");
        }
        assert_eq!(clean("/.htaccess").map(|_| ()), Err(403));
        // Decoded once only: %252e is the name "%2e", not "..".
        assert_eq!(clean("/%252e%252e/x"), Ok(("/%2e%2e/x".into(), false)));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_a_star() {
        let etag = HeaderValue::from_static("W/\"1-2.3\"");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"1-2.3\""),
        );
        assert!(none_match_hits(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert!(!none_match_hits(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match_hits(&h, &etag));
    }
}
