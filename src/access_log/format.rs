//! The access log's line formats: `combined`, `json` and httpd/mod_jk `%` templates (parsing at start, rendering on the writer thread).

use std::fmt::Write as _;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::{Record, Sticky};

/// httpd's `combined` LogFormat.
pub const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;

/// How each line is written (`--access-log-format`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// One JSON object per line.
    Json,
    /// A `%` template (`combined` is one).
    Template(Template),
}

impl LineFormat {
    /// `combined`, `json`, or a `%` template; an unknown code is an error naming it.
    pub fn parse(text: &str) -> Result<LineFormat, String> {
        match text {
            "json" => Ok(LineFormat::Json),
            "combined" => Template::parse(COMBINED).map(LineFormat::Template),
            template => Template::parse(template).map(LineFormat::Template),
        }
    }

    /// The request headers a line shows through `%{NAME}i`, in the order
    /// [`Record::request_headers`] holds them.
    pub fn request_headers(&self) -> &[HeaderName] {
        match self {
            LineFormat::Json => &[],
            LineFormat::Template(t) => &t.request_headers,
        }
    }

    /// The response headers a line shows through `%{NAME}o`.
    pub fn response_headers(&self) -> &[HeaderName] {
        match self {
            LineFormat::Json => &[],
            LineFormat::Template(t) => &t.response_headers,
        }
    }

    /// Appends the line for `record`, with its newline.
    pub fn render(&self, record: &Record, line: &mut String) {
        match self {
            LineFormat::Json => render_json(record, line),
            LineFormat::Template(t) => t.render(record, line),
        }
        line.push('\n');
    }
}

/// A parsed `%` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    items: Vec<Item>,
    request_headers: Vec<HeaderName>,
    response_headers: Vec<HeaderName>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Text(String),
    Field(Field),
}

/// What one `%` code shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// `%h`, `%a`: the client address as forwarded to Tomcat (after a trusted
    /// proxy's X-Forwarded-For, as mod_remoteip makes httpd log it).
    Client,
    /// `%{c}a`: the TCP peer.
    Peer,
    /// `%l`, `%u`: identd name and authenticated user, which jkd never has.
    Dash,
    /// `%t`: the request's start, `[10/Oct/2000:13:55:36 +0000]`.
    Time,
    /// `%r`: `METHOD URI PROTOCOL`.
    RequestLine,
    Method,
    /// `%U`: the path as received.
    Path,
    /// `%q`: `?query`, or nothing.
    Query,
    Protocol,
    /// `%s`, `%>s`, `%<s`: jkd has no internal redirects, so they are one status.
    Status,
    /// `%b`: response body bytes, `-` for none.
    BytesClf,
    /// `%B`: response body bytes.
    Bytes,
    /// `%D`: microseconds.
    Micros,
    /// `%T`: whole seconds, as httpd prints it.
    Seconds,
    /// `%{ms}T`.
    Millis,
    /// `%{jk}T`: mod_jk's `JkRequestLogFormat` `%T`, seconds with microseconds.
    SecondsMicros,
    /// `%v`, `%V`: the server name the client asked for (jkd has no ServerName).
    ServerName,
    /// `%p`, `%{canonical}p`, `%{local}p`: the port the request came in on.
    LocalPort,
    /// `%{remote}p`.
    PeerPort,
    /// `%{NAME}i`: index into [`Record::request_headers`].
    RequestHeader(usize),
    /// `%{NAME}o`: index into [`Record::response_headers`].
    ResponseHeader(usize),
    /// `%w`: the worker the URI was mapped to.
    Worker,
    /// `%R`: the route of the member that answered.
    Route,
}

impl Template {
    /// Reads a template; an unknown code, or an argument a code does not take, is an
    /// error that names it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut template = Template {
            items: Vec::new(),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
        };
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let mut argument: Option<String> = None;
            let code = loop {
                match chars.next() {
                    None => return Err(format!("'{}' ends in the middle of a code", &text)),
                    // httpd's original/final modifiers: the same request in jkd.
                    Some((_, '<' | '>')) => {}
                    Some((_, '{')) if argument.is_none() => {
                        let mut arg = String::new();
                        loop {
                            match chars.next() {
                                Some((_, '}')) => break,
                                Some((_, ch)) => arg.push(ch),
                                None => return Err(format!("'{}' has an unclosed '{{'", &text)),
                            }
                        }
                        argument = Some(arg);
                    }
                    Some((end, ch)) => {
                        let whole = text.get(start..end + ch.len_utf8()).unwrap_or("%");
                        break (ch, whole);
                    }
                }
            };
            let (letter, whole) = code;
            if letter == '%' && argument.is_none() {
                literal.push('%');
                continue;
            }
            let field = template.field(letter, argument.as_deref(), whole)?;
            if !literal.is_empty() {
                template
                    .items
                    .push(Item::Text(std::mem::take(&mut literal)));
            }
            template.items.push(Item::Field(field));
        }
        if !literal.is_empty() {
            template.items.push(Item::Text(literal));
        }
        Ok(template)
    }

    fn field(
        &mut self,
        letter: char,
        argument: Option<&str>,
        whole: &str,
    ) -> Result<Field, String> {
        let unknown = || format!("unknown access log format code '{whole}'");
        let field = match (letter, argument) {
            ('h', None) | ('a', None) => Field::Client,
            ('a', Some("c")) => Field::Peer,
            ('l' | 'u', None) => Field::Dash,
            ('t', None) => Field::Time,
            ('r', None) => Field::RequestLine,
            ('m', None) => Field::Method,
            ('U', None) => Field::Path,
            ('q', None) => Field::Query,
            ('H', None) => Field::Protocol,
            ('s', None) => Field::Status,
            ('b', None) => Field::BytesClf,
            ('B', None) => Field::Bytes,
            ('D', None) | ('T', Some("us")) => Field::Micros,
            ('T', None | Some("s")) => Field::Seconds,
            ('T', Some("ms")) => Field::Millis,
            ('T', Some("jk")) => Field::SecondsMicros,
            ('v' | 'V', None) => Field::ServerName,
            ('p', None | Some("canonical" | "local")) => Field::LocalPort,
            ('p', Some("remote")) => Field::PeerPort,
            ('w', None) => Field::Worker,
            ('R', None) => Field::Route,
            ('i' | 'o', Some(name)) => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("'{whole}': '{name}' is not a header name"))?;
                let list = if letter == 'i' {
                    &mut self.request_headers
                } else {
                    &mut self.response_headers
                };
                let index = list.iter().position(|n| *n == name).unwrap_or_else(|| {
                    list.push(name);
                    list.len() - 1
                });
                if letter == 'i' {
                    Field::RequestHeader(index)
                } else {
                    Field::ResponseHeader(index)
                }
            }
            _ => return Err(unknown()),
        };
        Ok(field)
    }

    fn render(&self, r: &Record, line: &mut String) {
        for item in &self.items {
            match item {
                Item::Text(t) => line.push_str(t),
                Item::Field(f) => render_field(*f, r, line),
            }
        }
    }
}

fn render_field(field: Field, r: &Record, line: &mut String) {
    match field {
        Field::Client => {
            let _ = write!(line, "{}", r.client);
        }
        Field::Peer => {
            let _ = write!(line, "{}", r.peer.ip());
        }
        Field::Dash => line.push('-'),
        Field::Time => {
            let zoned = jiff::Timestamp::try_from(r.start)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .to_zoned(jiff::tz::TimeZone::system());
            let _ = write!(line, "[{}]", zoned.strftime("%d/%b/%Y:%H:%M:%S %z"));
        }
        Field::RequestLine => {
            escape_into(r.method.as_str().as_bytes(), line);
            line.push(' ');
            escape_into(r.target().as_bytes(), line);
            line.push(' ');
            line.push_str(r.protocol());
        }
        Field::Method => escape_into(r.method.as_str().as_bytes(), line),
        Field::Path => escape_into(r.uri.path().as_bytes(), line),
        Field::Query => {
            if let Some(q) = r.uri.query() {
                line.push('?');
                escape_into(q.as_bytes(), line);
            }
        }
        Field::Protocol => line.push_str(r.protocol()),
        Field::Status => {
            let _ = write!(line, "{}", r.status);
        }
        Field::BytesClf if r.bytes_out == 0 => line.push('-'),
        Field::BytesClf | Field::Bytes => {
            let _ = write!(line, "{}", r.bytes_out);
        }
        Field::Micros => {
            let _ = write!(line, "{}", r.duration.as_micros());
        }
        Field::Seconds => {
            let _ = write!(line, "{}", r.duration.as_secs());
        }
        Field::Millis => {
            let _ = write!(line, "{}", r.duration.as_millis());
        }
        Field::SecondsMicros => {
            let _ = write!(
                line,
                "{}.{:06}",
                r.duration.as_secs(),
                r.duration.subsec_micros()
            );
        }
        Field::ServerName => escape_into(r.server_name().as_bytes(), line),
        Field::LocalPort => {
            let _ = write!(line, "{}", r.local_port);
        }
        Field::PeerPort => {
            let _ = write!(line, "{}", r.peer.port());
        }
        Field::RequestHeader(i) => header_into(r.request_headers.get(i), line),
        Field::ResponseHeader(i) => header_into(r.response_headers.get(i), line),
        Field::Worker => dash_or(r.worker.as_deref(), line),
        Field::Route => dash_or(r.route.as_deref(), line),
    }
}

fn dash_or(value: Option<&str>, line: &mut String) {
    match value {
        Some(v) if !v.is_empty() => escape_into(v.as_bytes(), line),
        _ => line.push('-'),
    }
}

/// A captured header: its values joined with `, ` (httpd does so for repeated
/// response headers such as Set-Cookie), `-` when absent.
fn header_into(values: Option<&Vec<HeaderValue>>, line: &mut String) {
    match values {
        Some(values) if !values.is_empty() => {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                escape_into(v.as_bytes(), line);
            }
        }
        _ => line.push('-'),
    }
}

/// httpd's `ap_escape_logitem`: what a client sent cannot end a line or a quoted
/// field: `"` and `\` are escaped, control and non-ASCII bytes become `\xhh`.
fn escape_into(bytes: &[u8], line: &mut String) {
    for &b in bytes {
        match b {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            b'\n' => line.push_str("\\n"),
            b'\r' => line.push_str("\\r"),
            b'\t' => line.push_str("\\t"),
            0x20..=0x7e => line.push(char::from(b)),
            _ => {
                let _ = write!(line, "\\x{b:02x}");
            }
        }
    }
}

fn millis(d: Duration) -> f64 {
    // Three decimals: microsecond resolution is noise for a log reader.
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// One JSON object, keys in a fixed order (a reader scanning lines finds them where
/// it expects).
fn render_json(r: &Record, line: &mut String) {
    let mut object = JsonObject::open(line);
    let time = jiff::Timestamp::try_from(r.start).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    object.string("time", &time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    object.string("client", &r.client.to_string());
    object.string("method", r.method.as_str());
    object.bytes("uri", r.target().as_bytes());
    object.string("protocol", r.protocol());
    object.raw("status", &r.status.to_string());
    object.raw("bytes_in", &r.bytes_in.to_string());
    object.raw("bytes_out", &r.bytes_out.to_string());
    object.raw("duration_ms", &millis(r.duration).to_string());
    match r.backend {
        Some(d) => object.raw("backend_ms", &millis(d).to_string()),
        None => object.raw("backend_ms", "null"),
    }
    object.optional("worker", r.worker.as_deref());
    object.optional("member", r.member.as_deref());
    object.optional("route", r.route.as_deref());
    object.string(
        "sticky",
        match r.sticky {
            Sticky::Hit => "hit",
            Sticky::Miss => "miss",
            Sticky::None => "none",
        },
    );
    object.raw("attempts", &r.attempts.to_string());
    object.bytes("request_id", r.request_id.as_bytes());
    object.optional_bytes(
        "user_agent",
        r.user_agent.as_ref().map(HeaderValue::as_bytes),
    );
    object.optional_bytes("referer", r.referer.as_ref().map(HeaderValue::as_bytes));
    object.optional_bytes("host", r.host.as_ref().map(HeaderValue::as_bytes));
    object.optional("tls", r.tls);
    object.raw("completed", if r.completed { "true" } else { "false" });
    object.close();
}

/// Writes one JSON object's members in order.
struct JsonObject<'a> {
    line: &'a mut String,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn open(line: &'a mut String) -> Self {
        line.push('{');
        JsonObject { line, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.line.push(',');
        }
        self.first = false;
        self.line.push('"');
        self.line.push_str(key);
        self.line.push_str("\":");
    }

    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.line.push_str(value);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        // serde_json escapes quotes, backslashes and control characters.
        match serde_json::to_string(value) {
            Ok(quoted) => self.line.push_str(&quoted),
            Err(_) => self.line.push_str("null"),
        }
    }

    /// Header bytes need not be UTF-8: invalid sequences become U+FFFD.
    fn bytes(&mut self, key: &str, value: &[u8]) {
        self.string(key, &String::from_utf8_lossy(value));
    }

    fn optional(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.string(key, v),
            None => self.raw(key, "null"),
        }
    }

    fn optional_bytes(&mut self, key: &str, value: Option<&[u8]>) {
        match value {
            Some(v) => self.bytes(key, v),
            None => self.raw(key, "null"),
        }
    }

    fn close(self) {
        self.line.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::{Duration, UNIX_EPOCH};

    fn record() -> Record {
        Record {
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            client: "192.0.2.7".parse().unwrap(),
            peer: SocketAddr::from(([10, 0, 0, 1], 40000)),
            local_port: 8080,
            method: http::Method::GET,
            uri: "/app/x?a=1".parse().unwrap(),
            version: http::Version::HTTP_11,
            host: Some(HeaderValue::from_static("shop.example:8080")),
            user_agent: Some(HeaderValue::from_static("curl/8 \"quoted\"")),
            referer: None,
            request_id: HeaderValue::from_static("jkd-2a"),
            tls: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            status: 200,
            bytes_in: 3,
            bytes_out: 1234,
            duration: Duration::from_micros(1_502_345),
            backend: Some(Duration::from_micros(1_250)),
            worker: Some("lb".into()),
            member: Some("node1".into()),
            route: Some("node1".into()),
            sticky: Sticky::Hit,
            attempts: 1,
            completed: true,
        }
    }

    fn line(format: &str, r: &Record) -> String {
        let format = LineFormat::parse(format).unwrap();
        let mut out = String::new();
        format.render(r, &mut out);
        out
    }

    #[test]
    fn parses_codes_text_and_arguments() {
        let t = Template::parse("a%%b %>s %{X-Thing}i %{Set-Cookie}o %{X-Thing}i").unwrap();
        assert_eq!(t.request_headers, [HeaderName::from_static("x-thing")]);
        assert_eq!(t.response_headers, [HeaderName::from_static("set-cookie")]);
        assert_eq!(
            t.items,
            [
                Item::Text("a%b ".into()),
                Item::Field(Field::Status),
                Item::Text(" ".into()),
                Item::Field(Field::RequestHeader(0)),
                Item::Text(" ".into()),
                Item::Field(Field::ResponseHeader(0)),
                Item::Text(" ".into()),
                Item::Field(Field::RequestHeader(0)),
            ]
        );
    }

    #[test]
    fn an_unknown_code_is_an_error_that_names_it() {
        let e = LineFormat::parse("%h %Z").unwrap_err();
        assert!(e.contains("'%Z'"), "{e}");
        let e = LineFormat::parse("%{foo}a").unwrap_err();
        assert!(e.contains("'%{foo}a'"), "{e}");
        assert!(LineFormat::parse("%{Referer").is_err());
        assert!(LineFormat::parse("trailing %").is_err());
        // httpd's status conditions are not implemented: refused, not ignored.
        assert!(LineFormat::parse("%400r").is_err());
    }

    #[test]
    fn combined_renders_as_httpd_writes_it() {
        let mut r = record();
        let format = LineFormat::parse("combined").unwrap();
        r.request_headers = vec![vec![], r.user_agent.clone().into_iter().collect::<Vec<_>>()];
        assert_eq!(
            format.request_headers(),
            [
                HeaderName::from_static("referer"),
                HeaderName::from_static("user-agent")
            ]
        );
        let mut out = String::new();
        format.render(&r, &mut out);
        let re_free = out
            .split_once(" [")
            .map(|(head, rest)| (head.to_string(), rest.split_once("] ").map(|x| x.1)))
            .unwrap();
        assert_eq!(re_free.0, "192.0.2.7 - -");
        assert_eq!(
            re_free.1,
            Some("\"GET /app/x?a=1 HTTP/1.1\" 200 1234 \"-\" \"curl/8 \\\"quoted\\\"\"\n")
        );
        r.bytes_out = 0;
        assert!(line("%b %B", &r).starts_with("- 0"));
    }

    #[test]
    fn mod_jk_codes_render() {
        let r = record();
        assert_eq!(
            line(
                "%w %R %V %v %p %{jk}T %T %D %{ms}T %U%q %m %H %{c}a %{remote}p",
                &r
            ),
            "lb node1 shop.example shop.example 8080 1.502345 1 1502345 1502 /app/x?a=1 GET HTTP/1.1 10.0.0.1 40000\n"
        );
        let mut direct = record();
        direct.route = None;
        direct.worker = None;
        assert_eq!(line("%w %R", &direct), "- -\n");
    }

    #[test]
    fn json_has_every_field() {
        let out = line("json", &record());
        assert!(out.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["client"], "192.0.2.7");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["uri"], "/app/x?a=1");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes_in"], 3);
        assert_eq!(v["bytes_out"], 1234);
        assert_eq!(v["duration_ms"], 1502.345);
        assert_eq!(v["backend_ms"], 1.25);
        assert_eq!(v["worker"], "lb");
        assert_eq!(v["member"], "node1");
        assert_eq!(v["route"], "node1");
        assert_eq!(v["sticky"], "hit");
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["request_id"], "jkd-2a");
        assert_eq!(v["user_agent"], "curl/8 \"quoted\"");
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["host"], "shop.example:8080");
        assert_eq!(v["tls"], serde_json::Value::Null);
        assert_eq!(v["completed"], true);
    }

    #[test]
    fn client_bytes_cannot_break_a_line() {
        let mut r = record();
        r.uri = "/a%0Ab".parse().unwrap();
        r.request_headers = vec![vec![HeaderValue::from_bytes(b"x\"y\\\xff").unwrap()]];
        assert_eq!(line("%U %{X-A}i", &r), "/a%0Ab x\\\"y\\\\\\xff\n");
        r.user_agent = Some(HeaderValue::from_bytes(b"\xff").unwrap());
        let v: serde_json::Value = serde_json::from_str(&line("json", &r)).unwrap();
        assert_eq!(v["user_agent"], "\u{fffd}");
    }
}
