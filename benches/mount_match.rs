//! Criterion benchmark of mount matching: a realistic 30-line uriworkermap (33 rules) (exact URIs, prefixes, extensions, exclusions, a `|/*` rule, a disabled rule) mapping ten typical request paths, as `jkd run` maps every request (decode, normalise, then mod_jk's rule order).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use jkd::config::diag::Diagnostics;
use jkd::config::mounts::{MountTable, read_uriworkermap};

/// A uriworkermap as a site with a shop, an API, an admin area, static files served
/// by httpd and a status manager would write it: 30 lines, 33 rules (`/x|/*` is two).
const URIWORKERMAP: &str = "\
# shop application, static content excluded
/shop|/*=shop_lb
!/shop/static/*=shop_lb
!/shop/*.css=shop_lb
!/shop/*.js=shop_lb
!/shop/*.png=shop_lb
!/shop/*.gif=shop_lb
!/shop/*.ico=shop_lb
/shop/checkout/*=shop_lb;stateless=0
/shop/api/*=api_lb;sticky_ignore=1
# public API, versioned
/api/v1/*=api_lb
/api/v2/*=api_lb
/api/v3/*=api_lb;reply_timeout=30000
/api/health=api_lb;stateless=1
/api/*/admin/*=admin
# admin and reporting
/admin|/*=admin
/reports/*.pdf=reports
/reports/*.csv=reports
/reports/daily/*=reports
# legacy servlets by extension, anywhere
/*.jsp=legacy_lb
/*.do=legacy_lb
/*.action=legacy_lb
/*.faces=legacy_lb
/servlet/*=legacy_lb
!/*.gif=*
!/*.jpg=*
# single pages
/login=shop_lb
/logout=shop_lb
/sso/callback=shop_lb
# status manager, and a rule switched off
/jkmanager|/*=jkstatus
-/old/*=legacy_lb
";

/// Ten request paths: early and late hits, exclusions, misses, an encoded path and a
/// path parameter.
const URIS: [&str; 10] = [
    "/shop/catalog/item.jsp",
    "/shop/static/css/site.css",
    "/api/v2/orders/4711/items",
    "/api/health",
    "/reports/daily/2025-11-22",
    "/cgi/legacy/form.do",
    "/images/logo.gif",
    "/index.html",
    "/shop/checkout/pay;jsessionid=0123456789ABCDEF.node1",
    "/admin/users/%7Ejohn/edit",
];

fn table() -> MountTable {
    let mut diags = Diagnostics::default();
    let file: Arc<str> = Arc::from("uriworkermap.properties");
    let rules = read_uriworkermap(&file, URIWORKERMAP.as_bytes(), &|_: &str| None, &mut diags);
    assert!(
        diags.items.is_empty(),
        "the benchmark map reads cleanly: {:?}",
        diags.items
    );
    assert_eq!(rules.len(), 33, "30 lines, three of them `a|/*` pairs");
    MountTable::new(rules)
}

fn mounts(c: &mut Criterion) {
    let table = table();
    // The expected answers, so a change in matching cannot make the benchmark
    // measure something else without notice.
    let expected = [
        Some("shop_lb"),
        None,
        Some("api_lb"),
        Some("api_lb"),
        Some("reports"),
        Some("legacy_lb"),
        None,
        None,
        Some("shop_lb"),
        Some("admin"),
    ];
    for (uri, want) in URIS.iter().zip(expected) {
        let got = table
            .map_raw(uri)
            .expect("valid URI")
            .map(|r| r.worker.as_str());
        assert_eq!(got, want, "{uri}");
    }

    c.bench_function("mount_map_raw/33_rules_10_uris", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for uri in URIS {
                if let Ok(Some(rule)) = table.map_raw(black_box(uri)) {
                    hits += rule.worker.len();
                }
            }
            hits
        })
    });

    let normalized: Vec<Vec<u8>> = URIS
        .iter()
        .map(|u| jkd::config::uri::map_input(u).expect("valid URI"))
        .collect();
    c.bench_function("mount_map_normalized/33_rules_10_uris", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for uri in &normalized {
                if let Some(rule) = table.map(black_box(uri.as_slice())) {
                    hits += rule.worker.len();
                }
            }
            hits
        })
    });

    c.bench_function("uri_normalize/10_uris", |b| {
        b.iter(|| {
            let mut len = 0usize;
            for uri in URIS {
                len += jkd::config::uri::map_input(black_box(uri))
                    .map(|v| v.len())
                    .unwrap_or(0);
            }
            len
        })
    });
}

criterion_group!(benches, mounts);
criterion_main!(benches);
