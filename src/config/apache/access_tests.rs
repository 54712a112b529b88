//! The status manager's allow-list from `<Location>` access rules, through `config::load` with real files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::diag::Diagnostic;
use crate::config::{Config, Loaded, Sources, load};

const WORKERS: &str = "worker.list=lb,jkstatus\n\
    worker.lb.type=lb\nworker.lb.balance_workers=n1\n\
    worker.n1.host=127.0.0.1\nworker.n1.port=8009\nworker.n1.reply_timeout=1000\n\
    worker.jkstatus.type=status\n";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Writes the files, loads them, removes them.
fn load_files(conf: &str, workers: &str) -> Loaded {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir: PathBuf = std::env::temp_dir().join(format!("jkd-access-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = dir.join("workers.properties");
    let c = dir.join("jk.conf");
    std::fs::write(&w, workers).unwrap();
    std::fs::write(&c, conf).unwrap();
    let loaded = load(
        &Sources {
            workers: Some(w),
            apache_conf: Some(c),
            ..Sources::default()
        },
        &|_| None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

fn config(loaded: &Loaded) -> &Config {
    match &loaded.config {
        Some(c) => c,
        None => panic!("refused: {:#?}", loaded.diagnostics),
    }
}

/// The allow-list as text, `None` when everyone reaches the manager.
fn ranges(loaded: &Loaded) -> Option<Vec<String>> {
    config(loaded)
        .manager_allow
        .as_ref()
        .map(|a| a.ranges.iter().map(ToString::to_string).collect())
}

fn warnings(loaded: &Loaded) -> Vec<(u32, String)> {
    loaded
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| (d.origin.line, d.message.clone()))
        .collect()
}

fn has_file_line(d: &Diagnostic) -> bool {
    d.origin.file.ends_with("jk.conf") && d.origin.line > 0
}

#[test]
fn a_debian_style_jk_conf_restricts_the_manager_to_its_require_ip() {
    let conf = "<IfModule jk_module>\n\
                \x20   JkLogLevel info\n\
                \x20   <Location /jkstatus>\n\
                \x20       JkMount jkstatus\n\
                \x20       Require ip 127.0.0.1\n\
                \x20   </Location>\n\
                </IfModule>\n";
    let loaded = load_files(conf, WORKERS);
    assert_eq!(ranges(&loaded), Some(vec!["127.0.0.1/32".to_string()]));
    let allow = config(&loaded).manager_allow.as_ref().unwrap();
    assert_eq!(allow.origin.line, 5, "the Require line");
    assert!(warnings(&loaded).is_empty(), "{:?}", loaded.diagnostics);
}

#[test]
fn httpd_2_2_order_deny_allow_becomes_the_allow_list() {
    let conf = "<Location /jkstatus>\n\
                JkMount jkstatus\n\
                Order deny,allow\n\
                Deny from all\n\
                Allow from 127.0.0.1 ::1 localhost 10.0.0.0/8 192.168.0.0/255.255.0.0 172.16\n\
                </Location>\n";
    let loaded = load_files(conf, WORKERS);
    assert_eq!(
        ranges(&loaded),
        Some(
            [
                "127.0.0.1/32",
                "::1/128",
                "127.0.0.0/8",
                "10.0.0.0/8",
                "192.168.0.0/16",
                "172.16.0.0/16"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert!(warnings(&loaded).is_empty(), "{:?}", loaded.diagnostics);

    // allow,deny with "Allow from all": everyone, as httpd.
    let open = "<Location /jkstatus>\nJkMount jkstatus\nOrder allow,deny\nAllow from all\n\
                </Location>\n";
    assert_eq!(ranges(&load_files(open, WORKERS)), None);
    // allow,deny without an Allow line: nobody.
    let closed = "<Location /jkstatus>\nJkMount jkstatus\nOrder allow,deny\n</Location>\n";
    assert_eq!(ranges(&load_files(closed, WORKERS)), Some(Vec::new()));
}

#[test]
fn require_all_denied_lets_nobody_in_and_granted_everyone() {
    let denied = "<Location /jkstatus>\nJkMount jkstatus\nRequire all denied\n</Location>\n";
    assert_eq!(ranges(&load_files(denied, WORKERS)), Some(Vec::new()));
    let granted = "<Location /jkstatus>\nJkMount jkstatus\nRequire all granted\n</Location>\n";
    assert_eq!(ranges(&load_files(granted, WORKERS)), None);
}

#[test]
fn require_local_and_localhost_are_loopback() {
    let conf = "<Location /jkstatus>\nJkMount jkstatus\nRequire local\n</Location>\n";
    assert_eq!(
        ranges(&load_files(conf, WORKERS)),
        Some(vec!["127.0.0.0/8".to_string(), "::1/128".to_string()])
    );
    let host = "<Location /jkstatus>\nJkMount jkstatus\nRequire host localhost\n</Location>\n";
    assert_eq!(
        ranges(&load_files(host, WORKERS)),
        Some(vec!["127.0.0.0/8".to_string(), "::1/128".to_string()])
    );
}

#[test]
fn require_any_and_all_combine_as_httpd() {
    let conf = "<Location /jkstatus>\nJkMount jkstatus\n\
                <RequireAny>\n\
                <RequireAll>\nRequire ip 10.0.0.0/8\nRequire ip 10.1.0.0/16 192.168.0.0/16\n</RequireAll>\n\
                Require local\n\
                </RequireAny>\n\
                </Location>\n";
    let loaded = load_files(conf, WORKERS);
    assert_eq!(
        ranges(&loaded),
        Some(
            ["10.1.0.0/16", "127.0.0.0/8", "::1/128"]
                .map(String::from)
                .to_vec()
        )
    );
    assert!(warnings(&loaded).is_empty(), "{:?}", loaded.diagnostics);
}

#[test]
fn a_location_covering_a_worker_mount_of_the_status_worker_counts() {
    let workers = format!("{WORKERS}worker.jkstatus.mount=/jkmanager /jkmanager/*\n");
    let conf = "<Location /jkmanager>\nRequire ip 127.0.0.1\n</Location>\n";
    let loaded = load_files(conf, &workers);
    assert_eq!(ranges(&loaded), Some(vec!["127.0.0.1/32".to_string()]));
    assert!(warnings(&loaded).is_empty(), "{:?}", loaded.diagnostics);

    // A LocationMatch too; a prefix that is not a path segment does not.
    let regex = "<LocationMatch \"^/jkman\">\nRequire ip 10.0.0.0/8\n</LocationMatch>\n";
    assert_eq!(
        ranges(&load_files(regex, &workers)),
        Some(vec!["10.0.0.0/8".to_string()])
    );
    let partial = "<Location /jkman>\nRequire ip 10.0.0.0/8\n</Location>\n";
    let loaded = load_files(partial, &workers);
    assert_eq!(ranges(&loaded), None);
    assert_eq!(warnings(&loaded).len(), 1, "{:?}", loaded.diagnostics);
}

#[test]
fn what_jkd_cannot_honour_is_a_warning_with_its_line() {
    let workers = format!("{WORKERS}worker.lb.mount=/app/*\n");
    let conf = "<Location /jkstatus>\n\
                JkMount jkstatus\n\
                AuthType Basic\n\
                AuthName \"jk\"\n\
                AuthUserFile /etc/apache2/htpasswd\n\
                Require valid-user\n\
                Require env TRUSTED\n\
                Require expr %{REMOTE_ADDR} == '10.0.0.1'\n\
                Require host admin.example.com\n\
                Require ip 127.0.0.1\n\
                </Location>\n\
                <Location /app>\n\
                Require ip 10.0.0.0/8\n\
                </Location>\n";
    let loaded = load_files(conf, &workers);
    // The one rule jkd honours is applied.
    assert_eq!(ranges(&loaded), Some(vec!["127.0.0.1/32".to_string()]));
    let w = warnings(&loaded);
    let lines: Vec<u32> = w.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 5, 6, 7, 8, 9, 13], "{w:#?}");
    for d in &loaded.diagnostics {
        assert!(has_file_line(d), "{d}");
    }
    assert!(w[2].1.contains("--manager-users"), "{}", w[2].1);
    assert!(w[6].1.contains("'/app' are not checked"), "{}", w[6].1);
}

#[test]
fn negations_and_partial_denies_are_ignored_with_a_warning() {
    let conf = "<Location /jkstatus>\nJkMount jkstatus\n\
                <RequireAll>\nRequire ip 10.0.0.0/8\nRequire not ip 10.1.0.0/16\n</RequireAll>\n\
                </Location>\n";
    let loaded = load_files(conf, WORKERS);
    assert_eq!(ranges(&loaded), Some(vec!["10.0.0.0/8".to_string()]));
    assert_eq!(
        warnings(&loaded)
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>(),
        [5]
    );
    let deny = "<Location /jkstatus>\nJkMount jkstatus\nOrder allow,deny\n\
                Allow from 10.0.0.0/8\nDeny from 10.1.0.0/16\n</Location>\n";
    let loaded = load_files(deny, WORKERS);
    assert_eq!(ranges(&loaded), Some(vec!["10.0.0.0/8".to_string()]));
    assert_eq!(warnings(&loaded).len(), 1, "{:?}", loaded.diagnostics);
}

#[test]
fn rules_httpd_refuses_are_errors() {
    for bad in [
        "Require ip 10.0.0.300\n",
        "Require\n",
        "Require all maybe\n",
        "Allow 127.0.0.1\n",
        "Order deny, allow\n",
    ] {
        let conf = format!("<Location /jkstatus>\nJkMount jkstatus\n{bad}</Location>\n");
        let loaded = load_files(&conf, WORKERS);
        assert!(loaded.config.is_none(), "{bad}");
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| d.is_error() && d.origin.line == 3),
            "{bad}: {:?}",
            loaded.diagnostics
        );
    }
}

#[test]
fn rules_outside_location_sections_are_passed_over() {
    let conf = "<Directory />\nRequire all denied\n</Directory>\n\
                <Location /jkstatus>\nJkMount jkstatus\n</Location>\n";
    let loaded = load_files(conf, WORKERS);
    assert_eq!(ranges(&loaded), None);
    assert!(warnings(&loaded).is_empty(), "{:?}", loaded.diagnostics);
}
