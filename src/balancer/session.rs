//! Session identifiers: the `;jsessionid=` path parameter and the `JSESSIONID` cookie, found as mod_jk finds them.

use crate::config::values::is_c_space;

/// The value of the path parameter `name` (e.g. `;jsessionid`, matched case-sensitively
/// anywhere in the URI) followed by `=`: up to the next `?`, `;` or `/`. An occurrence
/// with nothing after `=` is skipped.
pub fn path_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(pos) = uri.get(from..).and_then(|s| s.find(name)) {
        let start = from + pos;
        let after = start + name.len();
        if uri.as_bytes().get(after) == Some(&b'=') {
            let rest = &uri[after + 1..];
            if !rest.is_empty() {
                let end = rest.find(['?', ';', '/']).unwrap_or(rest.len());
                return Some(&rest[..end]);
            }
        }
        from = start + 1;
    }
    None
}

/// Every value of cookie `name` in the given `Cookie` header values, joined with `;`
/// in the order found (the name is matched case-sensitively at the start of the
/// header or after `;`, `,` or white space; surrounding double quotes are removed).
pub fn cookie_values<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let mut result: Option<String> = None;
    for value in headers {
        let bytes = value.as_bytes();
        let mut from = 0;
        while let Some(pos) = value.get(from..).and_then(|s| s.find(name)) {
            let start = from + pos;
            let boundary = start == 0
                || matches!(bytes.get(start - 1), Some(b';' | b','))
                || bytes
                    .get(start - 1)
                    .is_some_and(|b| is_c_space(char::from(*b)));
            from = start + 1;
            if !boundary {
                continue;
            }
            let mut i = start + name.len();
            while bytes.get(i).is_some_and(|b| is_c_space(char::from(*b))) {
                i += 1;
            }
            if bytes.get(i) != Some(&b'=') || bytes.get(i + 1).is_none() {
                continue;
            }
            let val_start = i + 1;
            let val_end = value[val_start..]
                .find([';', ','])
                .map_or(value.len(), |p| val_start + p);
            let mut v = &value[val_start..val_end];
            if v.len() > 1 && v.starts_with('"') && v.ends_with('"') {
                v = &v[1..v.len() - 1];
            }
            match &mut result {
                None => result = Some(v.to_string()),
                Some(r) => {
                    r.push(';');
                    r.push_str(v);
                }
            }
            from = val_end;
        }
    }
    result
}

/// The session identifiers of a request, as mod_jk's `get_sessionid`: the path
/// parameter wins; only without it are the cookies read. Empty means none.
pub fn session_ids<'a>(
    uri: &str,
    cookie_headers: impl IntoIterator<Item = &'a str>,
    session_path: &str,
    session_cookie: &str,
) -> Option<String> {
    let found = match path_param(uri, session_path) {
        Some(v) => Some(v.to_string()),
        None => cookie_values(cookie_headers, session_cookie),
    };
    found.filter(|v| !v.is_empty())
}

/// The routes named by a `;`-separated session id list, in order: the text after the
/// first `.` of each id; ids without `.` name no route.
pub fn routes(ids: &str) -> impl Iterator<Item = &str> {
    ids.split(';')
        .filter_map(|id| id.split_once('.').map(|(_, r)| r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameter() {
        assert_eq!(
            path_param("/app;jsessionid=ABC.n1/x?q", ";jsessionid"),
            Some("ABC.n1")
        );
        // As in mod_jk, the first occurrence with anything after `=` is taken, even when
        // it is cut to nothing at the next `/` (and then counts as no session at all).
        assert_eq!(
            path_param("/a;jsessionid=/b;jsessionid=X.n2", ";jsessionid"),
            Some("")
        );
        assert_eq!(path_param("/a;jsessionid=", ";jsessionid"), None);
        assert_eq!(path_param("/a;JSESSIONID=X", ";jsessionid"), None);
        assert_eq!(path_param("/a;jsessionid=X;v=1", ";jsessionid"), Some("X"));
    }

    #[test]
    fn cookies() {
        let h = ["a=1; JSESSIONID=AB.n1", "JSESSIONID =\"CD.n2\", x=2"];
        assert_eq!(
            cookie_values(h, "JSESSIONID").as_deref(),
            Some("AB.n1;CD.n2")
        );
        // White space after `=` is kept (and then the quotes are not stripped).
        let h = ["JSESSIONID= \"E.n3\""];
        assert_eq!(cookie_values(h, "JSESSIONID").as_deref(), Some(" \"E.n3\""));
        assert_eq!(cookie_values(["XJSESSIONID=1"], "JSESSIONID"), None);
        assert_eq!(cookie_values(["JSESSIONID="], "JSESSIONID"), None);
        assert_eq!(cookie_values(["jsessionid=1"], "JSESSIONID"), None);
    }

    #[test]
    fn path_parameter_wins_over_cookie() {
        let ids = session_ids(
            "/x;jsessionid=P.n2",
            ["JSESSIONID=C.n1"],
            ";jsessionid",
            "JSESSIONID",
        );
        assert_eq!(ids.as_deref(), Some("P.n2"));
        let ids = session_ids("/x", ["JSESSIONID=C.n1"], ";jsessionid", "JSESSIONID");
        assert_eq!(ids.as_deref(), Some("C.n1"));
    }

    #[test]
    fn route_is_after_the_first_dot() {
        let r: Vec<&str> = routes("ABC.node1.x;NODOT;D.n2").collect();
        assert_eq!(r, vec!["node1.x", "n2"]);
    }
}
