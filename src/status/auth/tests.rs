//! Tests of the status manager's access rules: the user file, Basic credentials, the cross-site rule, read-only by default, and whole requests through [`serve_with`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use super::*;
use crate::config::values::Activation;
use crate::runtime::{ConnInfo, ProxyBody, Runtime, Target};

/// `htpasswd -nbB -C 4 admin s3cret`.
const ADMIN: &str = "admin:$2y$04$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum";
/// `htpasswd -nbB ops 'pa:ss wörd'` (cost 4).
const OPS: &str = "ops:$2y$04$uSIHmYFvkfXOxEc9j.BnVOxX7xfzgwqc9QNuqCdeA7IMloEZ.FFoe";

fn users() -> Users {
    Users::parse("users", &format!("# managers\n\n{ADMIN}\n  {OPS}  \r\n")).expect("users")
}

#[test]
fn user_file_lines() {
    let u = users();
    assert_eq!(u.len(), 2);
    assert_eq!(u.names().collect::<Vec<_>>(), ["admin", "ops"]);
    let b = bcrypt::hash("x", 4).expect("hash");
    assert!(b.starts_with("$2b$"));
    let a = b.replacen("$2b$", "$2a$", 1);
    assert!(Users::parse("f", &format!("one:{b}\ntwo:{a}\n")).is_ok());
}

#[test]
fn bad_user_file_lines_name_file_and_line() {
    let err = |text: &str| Users::parse("/etc/jkd/users", text).expect_err("refused");
    assert_eq!(
        err(&format!("{ADMIN}\n# ok\nmallory\n")),
        "/etc/jkd/users:3: expected 'user:bcrypt-hash' (as `htpasswd -B` writes it)"
    );
    assert_eq!(
        err(":$2y$04$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum\n"),
        "/etc/jkd/users:1: the user name is empty"
    );
    assert!(
        err("x:$apr1$abc$def\n")
            .starts_with("/etc/jkd/users:1: user 'x': an Apache MD5 hash; only bcrypt hashes")
    );
    assert!(err("x:{SHA}abc=\n").contains("a SHA-1 hash"));
    assert!(err("x:plaintext\n").contains("not a bcrypt hash"));
    assert!(
        err("x:$2y$04$short\n").starts_with("/etc/jkd/users:1: user 'x': not a valid bcrypt hash")
    );
    assert!(
        err("x:$2y$99$hHEtGog20YUmdj7yeTFto.BP6WYCtFNPZYqk57blARo78zFLgXHum\n").contains("cost 99")
    );
    assert_eq!(
        err(&format!("{ADMIN}\n\n{ADMIN}\n")),
        "/etc/jkd/users:3: user 'admin' is already on line 1"
    );
    assert!(err("# nobody\n\n").starts_with("/etc/jkd/users: no users"));
}

#[test]
fn passwords_are_checked_with_bcrypt() {
    let u = users();
    assert!(u.verify("admin", "s3cret"));
    assert!(!u.verify("admin", "s3cret "));
    assert!(!u.verify("Admin", "s3cret"));
    assert!(u.verify("ops", "pa:ss wörd"));
    assert!(!u.verify("nobody", "s3cret"));
}

#[test]
fn load_reads_a_file() {
    let path = std::env::temp_dir().join(format!("jkd-users-{}", std::process::id()));
    std::fs::write(&path, format!("{ADMIN}\n")).expect("write");
    assert_eq!(Users::load(&path).map(|u| u.len()), Ok(1));
    std::fs::write(&path, "admin\n").expect("write");
    let e = Users::load(&path).expect_err("bad line");
    assert!(e.starts_with(&format!("{}:1: ", path.display())), "{e}");
    let _ = std::fs::remove_file(&path);
    assert!(Users::load(&path).is_err());
}

#[test]
fn basic_credentials() {
    // base64("admin:s3cret") = YWRtaW46czNjcmV0
    let ok = Some(("admin".to_string(), "s3cret".to_string()));
    assert_eq!(parse_basic(b"Basic YWRtaW46czNjcmV0"), ok);
    assert_eq!(parse_basic(b"basic   YWRtaW46czNjcmV0 "), ok);
    assert_eq!(parse_basic(b"BASIC\tYWRtaW46czNjcmV0"), ok);
    // "a:b:c": the password keeps its colons; padding may be left out.
    assert_eq!(
        parse_basic(b"Basic YTpiOmM="),
        Some(("a".to_string(), "b:c".to_string()))
    );
    assert_eq!(
        parse_basic(b"Basic YTpiOmM"),
        Some(("a".to_string(), "b:c".to_string()))
    );
    // "u:" - an empty password is a password.
    assert_eq!(
        parse_basic(b"Basic dTo="),
        Some(("u".to_string(), String::new()))
    );
    // "ops:pa:ss wörd" in UTF-8.
    assert_eq!(
        parse_basic(b"Basic b3BzOnBhOnNzIHfDtnJk"),
        Some(("ops".to_string(), "pa:ss wörd".to_string()))
    );
    assert_eq!(parse_basic(b"Bearer YWRtaW46czNjcmV0"), None);
    assert_eq!(parse_basic(b"Basic"), None);
    assert_eq!(parse_basic(b"Basic YWRtaW4"), None, "no colon");
    assert_eq!(parse_basic(b"Basic OnB3"), None, "empty user");
    assert_eq!(parse_basic(b"Basic YWRt*W46"), None, "not base64");
    assert_eq!(parse_basic(b"Basic YWRtaW46czNjcmV0="), None, "bad padding");
    assert_eq!(parse_basic(b"Basic Y"), None);
    assert_eq!(parse_basic(b"Basic YTpiOmM=="), None, "partial padding");
    assert_eq!(
        parse_basic(b"Basic dTo"),
        Some(("u".to_string(), String::new()))
    );
    assert_eq!(parse_basic(b"Basic /w=="), None, "not UTF-8");
    assert_eq!(parse_basic(&[0xff, b' ', b'x']), None);
}

#[test]
fn base64_round_numbers() {
    let decode = |text: &str| BASIC.decode(text).ok();
    assert_eq!(decode(""), Some(Vec::new()));
    assert_eq!(decode("Zg=="), Some(b"f".to_vec()));
    assert_eq!(decode("Zm8="), Some(b"fo".to_vec()));
    assert_eq!(decode("Zm9v"), Some(b"foo".to_vec()));
    assert_eq!(decode("Zm9vYg"), Some(b"foob".to_vec()));
    assert_eq!(decode("Zh=="), Some(b"f".to_vec()), "stray low bits");
    assert_eq!(decode("Zg==="), None);
    assert_eq!(decode("Zm9=v"), None);
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn form_post<'a>() -> Provenance<'a> {
    Provenance {
        post: true,
        host: Some("jk.example:8080"),
        origin: Some("http://jk.example:8080"),
        referer: Some("http://jk.example:8080/jkmanager/?cmd=list"),
        fetch_site: Some("same-origin"),
        form_token: Some(TOKEN),
        credentials: true,
    }
}

fn script_get<'a>() -> Provenance<'a> {
    Provenance {
        post: false,
        host: Some("jk.example:8080"),
        credentials: true,
        ..Provenance::default()
    }
}

#[test]
fn cross_site_rule() {
    // The page's own form.
    assert_eq!(check_provenance(&form_post(), TOKEN), Ok(()));
    // A script's GET with credentials and none of the browser headers.
    assert_eq!(check_provenance(&script_get(), TOKEN), Ok(()));
    // A form post without or with another token.
    let mut p = form_post();
    p.form_token = None;
    assert!(check_provenance(&p, TOKEN).is_err());
    p.form_token = Some("0123456789abcdef0123456789abcdee");
    assert!(check_provenance(&p, TOKEN).is_err());
    p.form_token = Some("0123");
    assert!(check_provenance(&p, TOKEN).is_err());
    // A post from another site, even with the right token.
    let mut p = form_post();
    p.origin = Some("http://evil.example");
    assert!(check_provenance(&p, TOKEN).is_err());
    p.origin = Some("null");
    assert!(check_provenance(&p, TOKEN).is_err());
    let mut p = form_post();
    p.fetch_site = Some("cross-site");
    assert!(check_provenance(&p, TOKEN).is_err());
    p.fetch_site = Some("same-site");
    assert!(check_provenance(&p, TOKEN).is_err());
    // A GET that a signed-in browser was made to send from another site.
    let mut g = script_get();
    g.referer = Some("https://evil.example/page");
    assert!(check_provenance(&g, TOKEN).is_err());
    let mut g = script_get();
    g.fetch_site = Some("cross-site");
    assert!(check_provenance(&g, TOKEN).is_err());
    let mut g = script_get();
    g.origin = Some("http://jk.example:8081");
    assert!(check_provenance(&g, TOKEN).is_err());
    // The same host in other spellings is the same site.
    let mut g = script_get();
    g.referer = Some("http://JK.example:8080");
    g.fetch_site = Some("none");
    assert_eq!(check_provenance(&g, TOKEN), Ok(()));
    // A GET needs credentials; without a Host, no Origin or Referer can match.
    let mut g = script_get();
    g.credentials = false;
    assert!(check_provenance(&g, TOKEN).is_err());
    let mut g = script_get();
    g.host = None;
    assert_eq!(check_provenance(&g, TOKEN), Ok(()));
    g.referer = Some("http://jk.example:8080/");
    assert!(check_provenance(&g, TOKEN).is_err());
}

#[test]
fn form_fields_follow_the_query_and_the_token_is_taken_out() {
    assert_eq!(
        merge_query(Some("cmd=list"), None),
        (Some("cmd=list".to_string()), None)
    );
    assert_eq!(
        merge_query(
            Some("from=list"),
            Some("csrf=abc&cmd=update&w=lb&sw=n1&vwa=D")
        ),
        (
            Some("from=list&cmd=update&w=lb&sw=n1&vwa=D".to_string()),
            Some("abc".to_string())
        )
    );
    assert_eq!(merge_query(None, Some("")), (Some(String::new()), None));
}

#[test]
fn tokens_are_random_hex() {
    let a = Manager::new(None).expect("token");
    let b = Manager::new(None).expect("token");
    assert_eq!(a.token().len(), 32);
    assert!(a.token().bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a.token(), b.token());
    assert!(!a.writable());
    assert!(Manager::new(Some(users())).expect("token").writable());
}

// ---------------------------------------------------------------- whole requests

const WORKERS: &str = "\
worker.list=lb,jkstatus
worker.lb.type=lb
worker.lb.balance_workers=n1,n2
worker.n1.host=127.0.0.1
worker.n1.port=18009
worker.n2.host=127.0.0.1
worker.n2.port=18010
worker.jkstatus.type=status
";

fn runtime(extra: &str) -> Arc<Runtime> {
    let text = format!("{WORKERS}{extra}");
    let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("bad test config: {:?}", loaded.diagnostics));
    Runtime::new(config, Instant::now())
}

fn activation(rt: &Runtime, member: usize) -> Activation {
    match rt.targets.get("lb") {
        Some(Target::Lb(lb)) => lb.snapshot()[member].activation,
        _ => panic!("no lb"),
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

/// base64("admin:s3cret"), base64("admin:wrong"), base64("ops:pa:ss wörd").
const ADMIN_AUTH: &str = "Basic YWRtaW46czNjcmV0";
const WRONG_AUTH: &str = "Basic YWRtaW46d3Jvbmc=";
const OPS_AUTH: &str = "Basic b3BzOnBhOnNzIHfDtnJk";

fn call(
    manager: &Manager,
    rt: &Runtime,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(target);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        builder = builder.header(header::HOST, "jk.example:8080");
    }
    for (n, v) in headers {
        builder = builder.header(*n, *v);
    }
    let (parts, ()) = builder.body(()).expect("request").into_parts();
    let conn = ConnInfo {
        peer: SocketAddr::from(([192, 0, 2, 7], 50000)),
        local: SocketAddr::from(([127, 0, 0, 1], 8080)),
        tls: None,
    };
    let rt_threads = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let resp: Response<ProxyBody> = rt_threads.block_on(serve_with(
        manager,
        rt,
        "jkstatus",
        &parts,
        Full::new(Bytes::from(body.to_string())),
        conn,
    ));
    let (head, body) = resp.into_parts();
    let bytes = rt_threads
        .block_on(body.collect())
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Answer {
        status: head.status,
        headers: head.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(manager: &Manager, rt: &Runtime, target: &str, headers: &[(&str, &str)]) -> Answer {
    call(manager, rt, "GET", target, headers, "")
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[test]
fn read_only_without_a_user_file() {
    let manager = Manager::new(None).expect("token");
    let rt = runtime("");
    let page = get(&manager, &rt, "/jkstatus", &[]);
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<h1>JK Status Manager for jk.example:8080 (read only)</h1>")
    );
    assert!(
        page.body
            .contains("started without <code>--manager-users</code>")
    );
    assert!(!page.body.contains("<form"), "no buttons when read-only");
    assert_eq!(
        page.headers.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    // Credentials mean nothing without a user file, and change nothing.
    let update = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[("authorization", ADMIN_AUTH)],
    );
    assert_eq!(update.status, StatusCode::OK);
    assert_eq!(
        update.body,
        "Result: type=ERROR message=\"This command is not allowed in read only mode.\"\n"
    );
    assert_eq!(activation(&rt, 0), Activation::Active);
    // Reading needs nobody.
    let json = get(&manager, &rt, "/jkstatus?mime=json", &[]);
    assert!(json.body.contains("\"result\":{\"type\":\"OK\""));
}

#[test]
fn writing_needs_a_user_and_reading_does_not() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("");
    let page = get(&manager, &rt, "/jkstatus", &[]);
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<h1>JK Status Manager for jk.example:8080</h1>")
    );
    assert!(page.body.contains(&format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\"/>",
        manager.token()
    )));
    assert!(page.body.contains("Sign in</a>"));
    // A change without credentials asks for them.
    let asked = get(&manager, &rt, "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D", &[]);
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        asked.headers.get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Basic realm=\"jkd manager\", charset=\"UTF-8\""[..])
    );
    let edit = get(&manager, &rt, "/jkstatus?cmd=edit&w=lb&sw=n1", &[]);
    assert_eq!(edit.status, StatusCode::UNAUTHORIZED);
    // Wrong credentials are refused even for reading.
    let wrong = get(&manager, &rt, "/jkstatus", &[("authorization", WRONG_AUTH)]);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let garbled = get(
        &manager,
        &rt,
        "/jkstatus",
        &[("authorization", "Basic %%%")],
    );
    assert_eq!(garbled.status, StatusCode::UNAUTHORIZED);
    // The sign-in link.
    let login = get(&manager, &rt, "/jkstatus?login=1", &[]);
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    let signed_in = get(
        &manager,
        &rt,
        "/jkstatus?login=1",
        &[("authorization", ADMIN_AUTH)],
    );
    assert_eq!(signed_in.status, StatusCode::OK);
    assert!(signed_in.body.contains("Signed in as <b>admin</b>"));
    assert_eq!(activation(&rt, 0), Activation::Active);
}

#[test]
fn scripts_change_by_get_with_credentials() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("");
    let done = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[("authorization", ADMIN_AUTH)],
    );
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body, "Result: type=OK message=\"Action finished\"\n");
    assert_eq!(activation(&rt, 0), Activation::Disabled);
    // The same GET made by a signed-in browser from another site.
    for header in [
        ("referer", "https://evil.example/x"),
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let refused = get(
            &manager,
            &rt,
            "/jkstatus?cmd=update&w=lb&sw=n1&vwa=S&mime=txt",
            &[("authorization", ADMIN_AUTH), header],
        );
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{header:?}");
        assert_eq!(activation(&rt, 0), Activation::Disabled);
    }
    // Reading with the same headers is fine.
    let read = get(
        &manager,
        &rt,
        "/jkstatus?mime=txt",
        &[("referer", "https://evil.example/x")],
    );
    assert_eq!(read.status, StatusCode::OK);
}

#[test]
fn the_page_changes_by_posting_its_forms() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("");
    let form = format!(
        "csrf={}&cmd=update&from=list&w=lb&sw=n2&vwa=S",
        manager.token()
    );
    let page_headers = [
        ("authorization", ADMIN_AUTH),
        FORM,
        ("origin", "http://jk.example:8080"),
        ("sec-fetch-site", "same-origin"),
    ];
    let done = call(&manager, &rt, "POST", "/jkstatus", &page_headers, &form);
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers.get("location").map(|v| v.as_bytes()),
        Some(&b"/jkstatus?cmd=list&login=1"[..])
    );
    assert_eq!(activation(&rt, 1), Activation::Stopped);
    // Without the token, with another, without credentials, as another type.
    let stale = form.replace(manager.token(), "00000000000000000000000000000000");
    let refused = call(&manager, &rt, "POST", "/jkstatus", &page_headers, &stale);
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let no_token = "cmd=update&from=list&w=lb&sw=n2&vwa=A";
    let refused = call(&manager, &rt, "POST", "/jkstatus", &page_headers, no_token);
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let anonymous = call(&manager, &rt, "POST", "/jkstatus", &[FORM], &form);
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let typed = call(
        &manager,
        &rt,
        "POST",
        "/jkstatus",
        &[
            ("authorization", ADMIN_AUTH),
            ("content-type", "text/plain"),
        ],
        &form,
    );
    assert_eq!(typed.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!("{form}&pad={}", "x".repeat(70 * 1024));
    let too_big = call(&manager, &rt, "POST", "/jkstatus", &page_headers, &big);
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(activation(&rt, 1), Activation::Stopped);
    // Reset and recover post the same way; a failed change shows mod_jk's result.
    let recover = format!("csrf={}&cmd=recover&w=lb&sw=n2", manager.token());
    let failed = call(&manager, &rt, "POST", "/jkstatus", &page_headers, &recover);
    assert_eq!(failed.status, StatusCode::OK);
    assert!(
        failed
            .body
            .contains("Result: ERROR - Marking worker for recovery failed")
    );
    let put = call(&manager, &rt, "PUT", "/jkstatus", &page_headers, &form);
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn read_only_in_the_configuration_wins() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("worker.jkstatus.read_only=true\n");
    let refused = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[("authorization", ADMIN_AUTH)],
    );
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("not allowed in read only mode"));
    // Nobody is asked to sign in for a change that cannot happen.
    let anonymous = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[],
    );
    assert_eq!(anonymous.status, StatusCode::OK);
    let page = get(&manager, &rt, "/jkstatus", &[]);
    assert!(
        page.body
            .contains("configured with <code>read_only=true</code>")
    );
    assert!(!page.body.contains("<form"));
    assert_eq!(activation(&rt, 0), Activation::Active);
}

#[test]
fn the_status_workers_user_list_decides_who_gets_in() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("worker.jkstatus.user=ops\n");
    // With a user list mod_jk lets only those users in, even to read.
    assert_eq!(
        get(&manager, &rt, "/jkstatus?mime=txt", &[]).status,
        StatusCode::UNAUTHORIZED
    );
    let admin = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[("authorization", ADMIN_AUTH)],
    );
    assert_eq!(
        admin.body,
        "Result: type=ERROR message=\"Access denied.\"\n"
    );
    assert_eq!(activation(&rt, 0), Activation::Active);
    let ops = get(
        &manager,
        &rt,
        "/jkstatus?cmd=update&w=lb&sw=n1&vwa=D&mime=txt",
        &[("authorization", OPS_AUTH)],
    );
    assert_eq!(ops.body, "Result: type=OK message=\"Action finished\"\n");
    assert_eq!(activation(&rt, 0), Activation::Disabled);
    let relaxed = runtime("worker.jkstatus.user=OPS\nworker.jkstatus.user_case_insensitive=true\n");
    let ops = get(
        &manager,
        &relaxed,
        "/jkstatus?mime=txt",
        &[("authorization", OPS_AUTH)],
    );
    assert!(ops.body.contains("type=OK"));
}

#[test]
fn verified_credentials_are_remembered_by_a_keyed_hash() {
    let manager = Manager::new(Some(users())).expect("token");
    let threads = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let good = HeaderValue::from_static(ADMIN_AUTH);
    let wrong = HeaderValue::from_static(WRONG_AUTH);
    assert_eq!(
        threads.block_on(manager.login(Some(&good))),
        Login::User("admin".into())
    );
    assert_eq!(manager.verified.lock().len(), 1);
    assert_eq!(
        threads.block_on(manager.login(Some(&good))),
        Login::User("admin".into())
    );
    assert_eq!(
        threads.block_on(manager.login(Some(&wrong))),
        Login::Refused
    );
    assert_eq!(manager.verified.lock().len(), 1, "failures are not kept");
    assert_eq!(threads.block_on(manager.login(None)), Login::Anonymous);
    let read_only = Manager::new(None).expect("token");
    assert_eq!(
        threads.block_on(read_only.login(Some(&good))),
        Login::Anonymous
    );
}

// ------------------------------------------------ the edge holds (item 7)

const MOUNTED: &str = "worker.jkstatus.mount=/jkmanager /jkmanager/*\n";

#[test]
fn a_dot_segment_hidden_behind_a_path_parameter_never_reaches_the_manager() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime(MOUNTED);
    for hidden in [
        "/app/..;/jkmanager/",
        "/app/..;x=1/jkmanager/?cmd=list",
        "/app/%2e%2e;/jkmanager/",
        "/app/%2E%2e;jsessionid=1/jkmanager/",
        "/jkmanager/.;x/",
        "/app/..%3B/jkmanager/",
        "//evil.example/..;/jkmanager/?cmd=list&re=1",
    ] {
        // The mapping stays mod_jk's: the path does map to the status worker ...
        let rule = rt
            .config
            .mounts
            .map_raw(hidden.split('?').next().unwrap_or_default());
        assert_eq!(
            rule.ok().flatten().map(|r| r.worker.as_str()),
            Some("jkstatus"),
            "{hidden}"
        );
        // ... which refuses it, whoever asks.
        for auth in [None, Some(ADMIN_AUTH)] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let answer = get(&manager, &rt, hidden, &headers);
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{hidden}");
            assert!(!answer.body.contains("JK Status Manager"), "{hidden}");
        }
    }
    for plain in [
        "/jkmanager/",
        "/jkmanager",
        "/app/../jkmanager/",
        "/jkmanager;a=b/",
    ] {
        assert_eq!(
            get(&manager, &rt, plain, &[]).status,
            StatusCode::OK,
            "{plain}"
        );
    }
}

/// Every `href`, `action`, refresh `url=` and `data-poll` of an HTML page.
fn page_links(body: &str) -> Vec<String> {
    let mut links = Vec::new();
    for start in [" href=\"", " action=\"", " data-poll=\"", ";url="] {
        let mut rest = body;
        while let Some(i) = rest.find(start) {
            rest = &rest[i + start.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            links.push(rest[..end].to_string());
        }
    }
    links
}

#[test]
fn links_forms_and_redirects_point_at_the_mount_not_at_the_request_target() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime(MOUNTED);
    let admin = [("authorization", ADMIN_AUTH)];
    let page = get(
        &manager,
        &rt,
        "//evil.example/../jkmanager/?cmd=list&re=1",
        &admin,
    );
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("evil.example"), "{}", page.body);
    assert!(page.body.contains(
        "<meta http-equiv=\"Refresh\" content=\"1;url=/jkmanager/?cmd=list&amp;re=1\"/>"
    ));
    assert!(
        page.body
            .contains("data-poll=\"/jkmanager/?cmd=list&amp;mime=json\"")
    );
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/jkmanager/\"")
    );
    let links = page_links(&page.body);
    assert!(links.len() > 10, "{links:?}");
    for link in &links {
        assert!(link.starts_with("/jkmanager/"), "{link}");
    }
    // Any path under the mount answers with the same base.
    let deeper = get(&manager, &rt, "/jkmanager/deeper/x?cmd=list", &admin);
    assert!(
        page_links(&deeper.body)
            .iter()
            .all(|l| l.starts_with("/jkmanager/"))
    );
    // A form's change goes back to the mount too.
    let form = format!(
        "csrf={}&cmd=update&from=list&w=lb&sw=n2&vwa=S",
        manager.token()
    );
    let done = call(
        &manager,
        &rt,
        "POST",
        "//evil.example/../jkmanager/",
        &[
            ("authorization", ADMIN_AUTH),
            FORM,
            ("sec-fetch-site", "same-origin"),
        ],
        &form,
    );
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers.get("location").map(|v| v.as_bytes()),
        Some(&b"/jkmanager/?cmd=list&login=1"[..])
    );
    // Without a mount rule (the status worker reached otherwise), the base is the
    // normalised path, which never starts with `//`.
    let unmounted = runtime("");
    let page = get(
        &manager,
        &unmounted,
        "//evil.example/x?cmd=list&re=1",
        &admin,
    );
    assert_eq!(page.status, StatusCode::OK);
    let links = page_links(&page.body);
    assert!(!links.is_empty());
    for link in &links {
        assert!(link.starts_with('/') && !link.starts_with("//"), "{link}");
    }
}

#[test]
fn every_answer_says_nosniff() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime(MOUNTED);
    let admin = ("authorization", ADMIN_AUTH);
    let form = format!(
        "csrf={}&cmd=update&from=list&w=lb&sw=n2&vwa=S",
        manager.token()
    );
    let answers = [
        get(&manager, &rt, "/jkmanager/", &[]),
        get(&manager, &rt, "/jkmanager/?mime=xml", &[]),
        get(&manager, &rt, "/jkmanager/?mime=txt", &[]),
        get(&manager, &rt, "/jkmanager/?mime=prop", &[]),
        get(&manager, &rt, "/jkmanager/?mime=json", &[]),
        get(&manager, &rt, "/jkmanager/?cmd=nonsense", &[]),
        get(&manager, &rt, "/jkmanager/?cmd=update&w=lb", &[]),
        get(
            &manager,
            &rt,
            "/jkmanager/",
            &[("authorization", WRONG_AUTH)],
        ),
        get(
            &manager,
            &rt,
            "/jkmanager/?cmd=update&w=lb&sw=n1&vwa=A",
            &[admin, ("origin", "http://evil.example")],
        ),
        get(&manager, &rt, "/app/..;/jkmanager/", &[]),
        call(&manager, &rt, "PUT", "/jkmanager/", &[], ""),
        call(
            &manager,
            &rt,
            "POST",
            "/jkmanager/",
            &[admin, ("content-type", "text/plain")],
            "",
        ),
        call(&manager, &rt, "POST", "/jkmanager/", &[admin, FORM], &form),
    ];
    let mut statuses = Vec::new();
    for answer in &answers {
        statuses.push(answer.status.as_u16());
        assert_eq!(
            answer
                .headers
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(
        statuses,
        [
            200, 200, 200, 200, 200, 200, 401, 401, 403, 404, 405, 415, 303
        ]
    );
}

#[test]
fn the_host_header_is_escaped_in_every_format() {
    let manager = Manager::new(None).expect("token");
    let rt = runtime(MOUNTED);
    let host = ("host", "jk\"><x y='1'>&zz;:8080");
    for mime in ["xml", "html", "txt", "prop", "json"] {
        let answer = get(&manager, &rt, &format!("/jkmanager/?mime={mime}"), &[host]);
        assert_eq!(answer.status, StatusCode::OK);
        for raw in ["\"><x", "<x", "y='1'", "&zz;"] {
            assert!(
                !answer.body.contains(raw),
                "{mime}: {raw} in {}",
                answer.body
            );
        }
        assert!(
            answer
                .body
                .contains("jk%22%3E%3Cx%20y%3D%271%27%3E%26zz%3B"),
            "{mime}: {}",
            answer.body
        );
    }
    // An ordinary host name is shown as it is.
    let plain = get(
        &manager,
        &rt,
        "/jkmanager/?mime=xml",
        &[("host", "Jk-1.example.org:8080")],
    );
    assert!(
        plain.body.contains("name=\"Jk-1.example.org\""),
        "{}",
        plain.body
    );
}

#[test]
fn an_unknown_user_costs_as_much_bcrypt_as_the_slowest_known_one() {
    let slow = bcrypt::hash("slow password", 6).expect("hash");
    let users = Users::parse("users", &format!("{ADMIN}\nslow:{slow}\n")).expect("users");
    let (dummy, known) = users.hash_for("nobody");
    assert!(!known);
    let parts: bcrypt::HashParts = dummy.parse().expect("a well-formed bcrypt hash");
    assert_eq!(
        parts.get_cost(),
        6,
        "the highest cost of the file, not the first user's"
    );
    // bcrypt really runs on it (a malformed hash would fail at once) ...
    assert_eq!(bcrypt::verify("slow password", dummy).ok(), Some(false));
    // ... and it lets nobody in, even with a user's password.
    assert!(!users.verify("nobody", "slow password"));
    assert!(!users.verify("nobody", "s3cret"));
    assert!(users.verify("slow", "slow password"));
    assert!(users.verify("admin", "s3cret"));
    assert_eq!(
        users.hash_for("admin"),
        (ADMIN.split_once(':').map(|(_, h)| h).unwrap_or(""), true)
    );
}

#[test]
fn repeated_failed_sign_ins_from_one_address_wait() {
    let manager = Manager::new(Some(users())).expect("token");
    let threads = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let good = HeaderValue::from_static(ADMIN_AUTH);
    let wrong = HeaderValue::from_static(WRONG_AUTH);
    let garbage = HeaderValue::from_static("Basic !!!");
    let guesser = IpAddr::from([198, 51, 100, 9]);
    let other = IpAddr::from([198, 51, 100, 10]);
    let start = Instant::now();
    for i in 0..throttle::MAX_FAILURES {
        let header = if i % 2 == 0 { &wrong } else { &garbage };
        assert_eq!(
            threads.block_on(manager.login_from(Some(header), guesser, start)),
            Login::Refused
        );
    }
    // Even the right password waits now (it was never verified) ...
    let later = start + Duration::from_secs(20);
    assert_eq!(
        threads.block_on(manager.login_from(Some(&good), guesser, later)),
        Login::Throttled(Duration::from_secs(40))
    );
    // ... while other addresses are not slowed ...
    assert_eq!(
        threads.block_on(manager.login_from(Some(&good), other, later)),
        Login::User("admin".into())
    );
    // ... and credentials already verified need no bcrypt, so they pass.
    assert_eq!(
        threads.block_on(manager.login_from(Some(&good), guesser, later)),
        Login::User("admin".into())
    );
    assert_eq!(
        threads.block_on(manager.login_from(Some(&wrong), guesser, later)),
        Login::Throttled(Duration::from_secs(40))
    );
    // Once the window has passed, the address may try again.
    assert_eq!(
        threads.block_on(manager.login_from(Some(&wrong), guesser, start + throttle::WINDOW)),
        Login::Refused
    );
    // Through the front door: 401 five times, then 429 with Retry-After.
    let rt = runtime("");
    let fresh = Manager::new(Some(users())).expect("token");
    for _ in 0..throttle::MAX_FAILURES {
        let answer = get(&fresh, &rt, "/jkstatus", &[("authorization", WRONG_AUTH)]);
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = get(&fresh, &rt, "/jkstatus", &[("authorization", ADMIN_AUTH)]);
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // Anonymous reading is not a sign-in and is not slowed.
    assert_eq!(get(&fresh, &rt, "/jkstatus", &[]).status, StatusCode::OK);
}

/// Collects what the `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn request_values_cannot_forge_log_lines() {
    let manager = Manager::new(Some(users())).expect("token");
    let rt = runtime("");
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let forged = "%0A2026-01-01T00:00:00Z%20INFO%20jkd:%20FORGED";
        for target in [
            // A value that is accepted and logged as changed ...
            format!("/jkstatus?cmd=update&w=lb&sw=n1&vwn=r1{forged}&mime=txt"),
            format!("/jkstatus?cmd=update&w=lb&sw=n1&vwc=d{forged}&mime=txt"),
            // ... one that is refused, quoting it ...
            format!("/jkstatus?cmd=update&w=lb&sw=n1&vahst=h{forged}&mime=txt"),
            format!("/jkstatus?cmd=update&w=lb{forged}&mime=txt"),
            format!("/jkstatus?cmd=update&w=ajp{forged}&sw=x&mime=txt"),
        ] {
            let answer = get(&manager, &rt, &target, &[("authorization", ADMIN_AUTH)]);
            assert_eq!(answer.status, StatusCode::OK, "{target}");
        }
    });
    let log = String::from_utf8_lossy(&captured.0.lock()).into_owned();
    assert!(log.contains("FORGED"), "the values are logged: {log}");
    for line in log.lines() {
        assert!(!line.starts_with("2026-01-01"), "forged line in:\n{log}");
    }
    assert!(log.contains("\\n2026-01-01"), "{log}");
}
