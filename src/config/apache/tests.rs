//! Reading whole httpd configuration files: directives, sections, diagnostics.

use super::*;
use crate::config::diag::Diagnostic;
use crate::config::mounts::RuleSource;

fn read(text: &str) -> (ApacheJk, Vec<Diagnostic>) {
    let mut d = Diagnostics::default();
    let conf = read_apache_conf(&Arc::from("httpd.conf"), text.as_bytes(), &mut d);
    (conf, d.items)
}

fn mounts(conf: &ApacheJk) -> Vec<(String, &str, Option<&str>)> {
    conf.mounts
        .iter()
        .map(|r| (r.written_pattern(), r.worker.as_str(), r.vhost.as_deref()))
        .collect()
}

fn lines_of(diags: &[Diagnostic]) -> Vec<u32> {
    diags.iter().map(|d| d.origin.line).collect()
}

fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.is_error()).collect()
}

#[test]
fn timeout_and_keepalive_timeout_of_the_main_server_are_read() {
    let (conf, diags) = read(
        "Timeout 30\nKeepAliveTimeout 1500ms\n<VirtualHost *:80>\nTimeout 5\n</VirtualHost>\n",
    );
    assert_eq!(conf.timeout.map(|(t, o)| (t, o.line)), Some((30, 1)));
    assert_eq!(conf.keepalive_timeout.map(|(t, _)| t), Some(2));
    assert_eq!(
        lines_of(&diags),
        [4],
        "the virtual host's Timeout is not read: {diags:?}"
    );
    let (_, diags) = read("Timeout soon\n");
    assert_eq!(errors(&diags).len(), 1, "{diags:?}");
}

#[test]
fn basic_mounts_workers_file_and_properties() {
    let (c, d) = read(
        "JkWorkersFile /etc/w.properties\nJkMount /app/* lb\nJkUnMount /app/static/* lb\n\
         JkWorkerProperty worker.list=lb\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.workers_file.as_ref().map(|(p, o)| (p.as_str(), o.line)),
        Some(("/etc/w.properties", 1))
    );
    assert_eq!(
        mounts(&c),
        [
            ("/app/*".into(), "lb", None),
            ("!/app/static/*".into(), "lb", None)
        ]
    );
    assert_eq!(c.mounts[1].origin.line, 3);
    assert_eq!(c.mounts[0].source, RuleSource::JkMount);
    assert_eq!(
        c.worker_properties,
        [("worker.list=lb".to_string(), Origin::new("httpd.conf", 4))]
    );
}

#[test]
fn directive_names_are_case_insensitive() {
    // corpus 002 ("jkmount"), 005 ("Jkshmfile"), 011 ("JKShmFile")
    let (c, d) = read("jkmount /a w\nJKMOUNT /b w\nJkshmfile run/x.shm\nJKShmFile /x\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.mounts.len(), 2);
}

#[test]
fn jkmount_with_wrong_argument_count_is_an_error_on_its_line() {
    let (c, d) = read("\nJkMount\nJkMount /a w extra\nJkMount /b\nJkMount /c w # comment\n");
    assert!(c.mounts.is_empty());
    let e = errors(&d);
    assert_eq!(lines_of(&d), [2, 3, 4, 5]);
    assert_eq!(e.len(), 4);
    assert!(e.iter().all(|x| x.key == "JkMount"));
    assert!(e[0].message.contains("takes 1-2 arguments"));
    assert!(e[2].message.contains("needs a path"));
    assert!(e[3].message.contains("no comments after a directive"));
}

#[test]
fn jkmount_empty_second_argument_counts_as_missing() {
    let (_, d) = read("JkMount /x \"\"\n");
    assert_eq!(lines_of(&d), [1]);
    assert!(d[0].message.contains("needs a path"));
}

#[test]
fn jkmount_context_must_start_with_slash() {
    let (c, d) = read("JkMount *.jsp w\nJkMount !/x w\nJkMount -/y w\n");
    assert!(c.mounts.is_empty());
    assert_eq!(lines_of(&d), [1, 2, 3]);
    assert!(d.iter().all(Diagnostic::is_error));
    assert!(d[0].message.contains("'/*.jsp'"));
    assert!(d[1].message.contains("JkUnMount"));
}

#[test]
fn jkmount_pipe_expands() {
    let (c, _) = read("JkMount /myapp|/* balancer\n");
    let p: Vec<_> = c.mounts.iter().map(|r| r.pattern.as_str()).collect();
    assert_eq!(p, ["/myapp", "/myapp/*"]);
}

#[test]
fn location_mount_takes_the_location_path() {
    // corpus 001, 003, 014
    let (c, d) = read(
        "<Location /jk-status>\n    # comment\n    JkMount jk-status\n    Require local\n</Location>\n\
         <Location /jkstatus> \n  JkUnMount jkstatus\n</Location> \n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        mounts(&c),
        [
            ("/jk-status".into(), "jk-status", None),
            ("!/jkstatus".into(), "jkstatus", None)
        ]
    );
    assert!(!c.mounts[0].wildcard);
    assert_eq!(c.mounts[0].origin.line, 3);
}

#[test]
fn location_with_trailing_slash_is_exact_and_warned() {
    // corpus 006, 008, 016: <Location /jkstatus/>
    let (c, d) = read("<Location /jkstatus/>\n    JkMount status\n</Location>\n");
    assert_eq!(mounts(&c), [("/jkstatus/".into(), "status", None)]);
    assert_eq!(lines_of(&d), [2]);
    assert!(!d[0].is_error());
    assert!(d[0].message.contains("'/jkstatus'"));
}

#[test]
fn location_mount_with_two_arguments_is_an_error() {
    let (c, d) = read("<Location /a>\nJkMount /a/* w\n</Location>\n");
    assert!(c.mounts.is_empty());
    assert_eq!(lines_of(&d), [2]);
    assert!(d[0].message.contains("can not have a path"));
}

#[test]
fn quoted_location_and_regex_locations() {
    let (c, d) = read(
        "<Location \"/my app\">\nJkMount w\n</Location>\n<LocationMatch \"^/x\">\nJkMount w\n</LocationMatch>\n\
         <Location ~ \"/y.*\">\nJkMount w\n</Location>\n",
    );
    assert_eq!(
        mounts(&c),
        [("/my app".into(), "w", None), ("/y.*".into(), "w", None)]
    );
    assert_eq!(
        lines_of(&errors(&d).into_iter().cloned().collect::<Vec<_>>()),
        [5]
    );
    assert_eq!(lines_of(&d), [5, 8]);
    assert!(
        c.mounts[1].wildcard,
        "the regex text is used as a wildcard pattern"
    );
}

#[test]
fn directory_path_gets_a_trailing_slash_and_if_has_no_path() {
    let (c, d) = read(
        "<Directory /srv/app>\nJkMount w\n</Directory>\n<Location /a>\n<If \"true\">\nJkMount w\n</If>\n</Location>\n",
    );
    assert_eq!(mounts(&c), [("/srv/app/".into(), "w", None)]);
    assert_eq!(lines_of(&d), [2, 6]);
    assert!(d[1].is_error() && d[1].message.contains("'*If'"));
}

#[test]
fn server_directives_inside_a_location_are_errors() {
    let (c, d) = read("<Location /x>\nJkMountFile /u.properties\nJkLogLevel info\n</Location>\n");
    assert!(c.mount_files.is_empty());
    assert_eq!(lines_of(&d), [2, 3]);
    assert!(
        d.iter()
            .all(|x| x.is_error() && x.message.contains("not allowed in <Location>"))
    );
}

#[test]
fn virtual_hosts_record_mounts_and_names() {
    let (c, d) = read(
        "JkMount /main/* w\n<VirtualHost *:80>\nServerName www.a.org \nJkMount /a/* w1\n</VirtualHost>\n\
         <virtualhost 127.0.0.1 10.0.0.1>\nJkMount /b w2\n</VIRTUALHOST>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.virtual_hosts.len(), 2);
    assert_eq!(c.virtual_hosts[0].id, "www.a.org");
    assert_eq!(c.virtual_hosts[0].origin.line, 2);
    assert_eq!(c.virtual_hosts[1].id, "127.0.0.1 10.0.0.1");
    assert_eq!(c.virtual_hosts[1].addresses, ["127.0.0.1", "10.0.0.1"]);
    assert_eq!(
        mounts(&c),
        [
            ("/main/*".into(), "w", None),
            ("/a/*".into(), "w1", Some("www.a.org")),
            ("/b".into(), "w2", Some("127.0.0.1 10.0.0.1"))
        ]
    );
}

#[test]
fn location_inside_a_vhost_belongs_to_the_vhost() {
    let (c, d) = read(
        "<VirtualHost *:80>\nServerName v\n<Location /st>\nJkMount status\n</Location>\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(mounts(&c), [("/st".into(), "status", Some("v"))]);
}

#[test]
fn mount_file_reload_is_read_like_atoi() {
    let (c, d) = read("JkMountFileReload 10s\nJkMountFileReload -5\n");
    assert_eq!(
        c.main.mount_file_reload.map(|(s, o)| (s, o.line)),
        Some((0, 2))
    );
    assert_eq!(lines_of(&d), [1, 2]);
    assert!(d[0].message.contains("as 10"));
}

#[test]
fn server_name_after_the_mounts_still_names_the_vhost() {
    let (c, _) =
        read("<VirtualHost *:80>\nJkMount /a w\nServerName late.example\n</VirtualHost>\n");
    assert_eq!(c.mounts[0].vhost.as_deref(), Some("late.example"));
}

#[test]
fn vhosts_with_the_same_name_get_distinct_ids() {
    let (c, _) = read("<VirtualHost *:80>\n</VirtualHost>\n<VirtualHost *:80>\n</VirtualHost>\n");
    assert_eq!(c.virtual_hosts[0].id, "*:80");
    assert_eq!(c.virtual_hosts[1].id, "*:80 (httpd.conf:3)");
}

#[test]
fn backslash_continuation_joins_lines() {
    // corpus 009: ServerAlias continued over several lines
    let (c, d) = read(
        "<VirtualHost *:80>\nServerName x\nServerAlias a.org \\\n            b.org \\\r\n   c.org\nJkMount \\\n /a w\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.virtual_hosts[0].server_aliases,
        ["a.org", "b.org", "c.org"]
    );
    assert_eq!(mounts(&c), [("/a".into(), "w", Some("x"))]);
    assert_eq!(
        c.mounts[0].origin.line, 6,
        "diagnostics name the first line"
    );
}

#[test]
fn backslash_then_space_does_not_continue_and_comments_continue() {
    let (c, _) = read("# comment \\\nJkMount /hidden w\nJkMount /a \\ \nJkMount /b w\n");
    let p: Vec<_> = c
        .mounts
        .iter()
        .map(|r| (r.pattern.as_str(), r.worker.as_str()))
        .collect();
    // The backslash before a space is an ordinary word: the worker of /a is "\".
    assert_eq!(p, [("/a", "\\"), ("/b", "w")]);
}

#[test]
fn crlf_lines_and_missing_final_newline() {
    // corpus 006
    let (c, d) = read(
        "JkMount /ShowCase ajp13\r\nJkLogLevel info \r\n<Location /s>\r\nJkMount status\r\n</Location>",
    );
    assert_eq!(
        mounts(&c),
        [
            ("/ShowCase".into(), "ajp13", None),
            ("/s".into(), "status", None)
        ]
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn tabs_separate_words() {
    // corpus 002, 012
    let (c, d) = read(
        "\tJkWorkersFile\tconf/extra/workers.properties\nServerRoot /r\nLoadModule\tjk_module\tx.so\n",
    );
    assert_eq!(
        c.workers_file.as_ref().map(|(p, _)| p.as_str()),
        Some("conf/extra/workers.properties")
    );
    assert_eq!(
        lines_of(&d),
        [1, 2],
        "relative path warning, then ServerRoot-after warning"
    );
}

#[test]
fn relative_paths_use_the_server_root_in_effect() {
    let (c, d) = read(
        "ServerRoot \"/etc/httpd\"\nJkWorkersFile conf/w.properties\nJkMountFile /abs/u.properties\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.server_root.as_deref(), Some("/etc/httpd"));
    assert_eq!(
        c.workers_file.map(|(p, _)| p),
        Some("/etc/httpd/conf/w.properties".into())
    );
    assert_eq!(
        c.mount_files,
        [(
            "/abs/u.properties".to_string(),
            Origin::new("httpd.conf", 3)
        )]
    );
}

#[test]
fn byte_order_mark_is_skipped_with_a_warning() {
    // corpus 015
    let (c, d) = read("\u{feff}JkMount /*.jsp controller\n");
    assert_eq!(c.mounts.len(), 1);
    assert_eq!(lines_of(&d), [1]);
    assert!(!d[0].is_error());
}

#[test]
fn nbsp_is_part_of_the_argument() {
    // corpus 005
    let (c, d) = read("ServerRoot /r\nJkWorkersFile conf.d/workers.properties\u{a0} \n");
    assert_eq!(
        c.workers_file.map(|(p, _)| p),
        Some("/r/conf.d/workers.properties\u{a0}".into())
    );
    assert_eq!(lines_of(&d), [2]);
    assert!(d[0].message.contains("U+00A0"));
}

#[test]
fn nbsp_after_a_quoted_argument_is_a_second_argument() {
    // corpus 005: JkLogStampFormat "[...]"<NBSP>
    let (_, d) = read("JkLogStampFormat \"[%a %b]\"\u{a0} \n");
    assert_eq!(lines_of(&d), [1]);
    assert!(d[0].is_error() && d[0].message.contains("U+00A0"));
}

#[test]
fn jkoptions_illegal_options_are_errors_and_unimplemented_ones_warnings() {
    // corpus 002, 005, 010
    let (_, d) = read(
        "JkOptions +ForwardKeySize +ForwardURICompatUnparsed -ForwardDirectories\n\
         JkOptions -ForwardDirectories\u{a0} \n\
         JkOptions  +ForwardKeySize +ForwardURICompat-ForwardDirectories\n\
         JkOptions -ForwardURIProxy\nJkOptions ForwardURIProxy +forwardkeysize\n",
    );
    assert_eq!(lines_of(&d), [1, 2, 3, 4]);
    assert!(!d[0].is_error() && d[0].message.contains("+ForwardURICompatUnparsed"));
    assert!(d[1].is_error() && d[1].message.contains("U+00A0"));
    assert!(d[2].is_error() && d[2].message.contains("missing after 'ForwardURICompat'"));
    assert!(d[3].is_error() && d[3].message.contains("can not be disabled"));
}

#[test]
fn glued_directive_names_are_errors() {
    // corpus 010: "JkLogFile/etc/httpd/logs/mod_jk.log", "JkLogStampFormat\"[%a ..."
    let (_, d) =
        read("JkLogFile/etc/httpd/logs/mod_jk.log\nJkRequestLogFormat\"%w %V %T\"\nJkFoo x\n");
    assert_eq!(lines_of(&d), [1, 2, 3]);
    assert!(d.iter().all(Diagnostic::is_error));
    assert!(d[0].message.contains("after 'JkLogFile'"));
    assert!(d[1].message.contains("after 'JkRequestLogFormat'"));
    assert_eq!(d[0].key, "JkLogFile/etc/httpd/logs/mod_jk.log");
}

#[test]
fn take1_with_extra_words_is_an_error() {
    // corpus 010: "JkShmFile logs/mod_jk.shm JkLogLevel info"
    let (_, d) = read("JkShmFile logs/mod_jk.shm JkLogLevel info\n");
    assert_eq!(lines_of(&d), [1]);
    assert!(d[0].is_error() && d[0].message.contains("takes one argument"));
}

#[test]
fn second_workers_file_is_an_error_and_the_first_stays() {
    // corpus 010 has two JkWorkersFile lines
    let (c, d) = read("JkWorkersFile /a\nJkWorkersFile /b\n");
    assert_eq!(
        c.workers_file.map(|(p, o)| (p, o.line)),
        Some(("/a".into(), 1))
    );
    assert_eq!(lines_of(&d), [2]);
    assert!(d[0].is_error() && d[0].message.contains("only allowed once"));
}

#[test]
fn global_only_directives_in_a_vhost_are_errors() {
    let (c, d) = read(
        "<VirtualHost *>\nJkWorkersFile /w\nJkWorkerProperty a=b\nJkMountCopy All\nJkShmFile x\n</VirtualHost>\n",
    );
    assert!(
        c.workers_file.is_none() && c.worker_properties.is_empty() && c.mount_copy_all.is_none()
    );
    assert_eq!(lines_of(&d), [2, 3, 4, 5]);
    assert!(d.iter().all(Diagnostic::is_error));
}

#[test]
fn stray_path_line_is_reported() {
    // corpus 007: a file name on a line of its own
    let (_, d) = read("JkLogLevel info\n/etc/httpd/conf.d/mod_jk.conf\n");
    assert_eq!(lines_of(&d), [2]);
    assert!(!d[0].is_error() && d[0].message.contains("not a directive"));
}

#[test]
fn include_is_reported_with_its_file_name() {
    // corpus 003
    let (_, d) = read("Include \"conf/extra/mod_jk/mount-jk.conf\"\nIncludeOptional x/*.conf\n");
    assert_eq!(lines_of(&d), [1, 2]);
    assert!(d[0].message.contains("'conf/extra/mod_jk/mount-jk.conf'"));
    assert_eq!(d[1].key, "IncludeOptional");
}

#[test]
fn ifmodule_blocks_are_read_except_when_mod_jk_or_mod_ssl_is_absent() {
    // corpus 002: <IfModule !mod_jk.c> ... <IfModule mod_jk.c>
    let (c, d) = read(
        "<IfModule !mod_jk.c>\n<Location /x>\nJkMount hidden\n</Location>\n</IfModule>\n\
         <IfModule mod_jk.c>\nJkMount /a w\n</IfModule>\n<IfModule !mod_ssl.c>\nJkMount /b w\n</IfModule>\n",
    );
    let p: Vec<_> = c.mounts.iter().map(|r| r.pattern.as_str()).collect();
    assert_eq!(p, ["/a"], "mod_ssl counts as loaded");
    assert_eq!(lines_of(&d), [1, 9]);
    assert!(!d[0].is_error());
}

#[test]
fn if_section_inside_location_is_read_through() {
    // corpus 011
    let (c, d) = read(
        "<Location /auth>\nAllow from all\n<If \"! -T osenv('X')\">\n    Require valid-user\n</If>\n</Location>\nJkEnvVar eppn\n",
    );
    assert!(c.mounts.is_empty());
    // Line 4: jkd does not evaluate <If>, so the Require inside is not read.
    assert_eq!(lines_of(&d), [4, 7], "JkEnvVar is not implemented");
    assert!(d.iter().all(|x| !x.is_error()), "{d:?}");
}

#[test]
fn silent_directives_are_silent() {
    // corpus 001, 014
    let (_, d) = read(
        "JkLogFile logs/mod_jk.log\nJkLogLevel info\nJkShmFile logs/jk.shm\nJkWatchdogInterval 60\n\
         JkLogStampFormat \"[%a %b %d %H:%M:%S %Y] \"\nJkRequestLogFormat \"%w %V %T\"\n",
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn unclosed_and_mismatched_sections_are_errors() {
    let (_, d) = read("<VirtualHost *>\n<Location /a>\n</VirtualHost>\n");
    assert_eq!(lines_of(&d), [3]);
    assert!(d[0].message.contains("expected </Location>"));
    let (_, d) = read("<Location /a>\nJkMount w\n");
    assert_eq!(lines_of(&d), [1]);
    assert!(d[0].message.contains("not closed"));
    let (_, d) = read("</Location>\n<Location /a\n</Location>\n");
    assert_eq!(lines_of(&d), [1, 2]);
}

#[test]
fn defines_are_substituted() {
    let (c, d) = read("Define APP /app\nJkMount ${APP}/* w\nJkMount ${NOPE}/x w\n");
    assert_eq!(c.mounts[0].pattern, "/app/*");
    assert_eq!(
        lines_of(&d),
        [3, 3],
        "undefined variable, then not starting with /"
    );
    let mut diags = Diagnostics::default();
    let env = |n: &str| (n == "ROOT").then(|| "/srv".to_string());
    let c = read_apache_conf_env(&Arc::from("x"), b"JkMount ${ROOT}/* w\n", &env, &mut diags);
    assert_eq!(c.mounts[0].pattern, "/srv/*");
}

#[test]
fn repeated_mount_key_replaces_in_place() {
    let (c, d) = read("JkMount /a w1\nJkMount /b w2\nJkMount /a w3\nJkUnMount /a w4\n");
    assert_eq!(
        mounts(&c),
        [
            ("/a".into(), "w3", None),
            ("/b".into(), "w2", None),
            ("!/a".into(), "w4", None)
        ]
    );
    assert_eq!(c.mounts[0].origin.line, 3);
    assert_eq!(lines_of(&d), [3]);
}

#[test]
fn same_key_in_different_servers_is_not_a_duplicate() {
    let (c, d) = read("JkMount /a w1\n<VirtualHost *>\nJkMount /a w2\n</VirtualHost>\n");
    assert_eq!(c.mounts.len(), 2);
    assert!(d.is_empty());
}

#[test]
fn mount_extensions_are_parsed() {
    let (c, _) = read("JkMount /a \"lb;reply_timeout=100;stateless=1\"\n");
    assert_eq!(c.mounts[0].worker, "lb");
    assert_eq!(c.mounts[0].extensions.reply_timeout, 100);
    assert!(c.mounts[0].extensions.stateless);
}

#[test]
fn mount_copy_and_server_maps() {
    let (c, d) = read(
        "JkMount /m/* main\nJkMount /shared main\nJkMountFile /main.properties\nJkMountCopy All\n\
         <VirtualHost *:1>\nServerName own\nJkMount /shared vh\n</VirtualHost>\n\
         <VirtualHost *:2>\nServerName off\nJkMountCopy Off\nJkMount /o off\n</VirtualHost>\n\
         <VirtualHost *:3>\nServerName empty\n</VirtualHost>\n\
         <VirtualHost *:4>\nServerName emptyoff\nJkMountCopy off\nJkMountFileReload 5\n</VirtualHost>\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let servers = c.servers();
    assert_eq!(servers.len(), 5);
    let main = &servers[0];
    assert_eq!(
        (main.kind, main.rules.len(), main.mount_file_reload),
        (MapKind::Own, 2, 60)
    );
    assert!(main.includes_worker_mounts());
    let own = &servers[1];
    let got: Vec<_> = own
        .rules
        .iter()
        .map(|r| (r.pattern.as_str(), r.worker.as_str()))
        .collect();
    assert_eq!(got, [("/shared", "vh"), ("/m/*", "main")]);
    assert_eq!(
        own.mount_file.as_ref().map(|(f, _)| f.as_str()),
        Some("/main.properties")
    );
    assert!(!own.includes_worker_mounts());
    let off = &servers[2];
    assert_eq!(off.rules.len(), 1);
    assert_eq!(off.mount_file, None);
    let empty = &servers[3];
    assert_eq!(empty.kind, MapKind::SharesMain);
    assert!(empty.includes_worker_mounts());
    let emptyoff = &servers[4];
    assert_eq!(
        (emptyoff.kind, emptyoff.mount_file_reload),
        (MapKind::NoMap, 5)
    );
}

#[test]
fn mount_copy_on_in_main_server_is_a_warning_and_bad_values_errors() {
    let (c, d) = read(
        "JkMountCopy On\nJkMountCopy maybe\n<VirtualHost *>\nJkMountCopy on\n</VirtualHost>\n",
    );
    assert_eq!(lines_of(&d), [1, 2]);
    assert!(!d[0].is_error() && d[1].is_error());
    assert_eq!(
        c.virtual_hosts[0].jk.mount_copy.as_ref().map(|(b, _)| *b),
        Some(true)
    );
    let s = c.servers();
    assert_eq!(s[1].kind, MapKind::SharesMain);
}

#[test]
fn second_mount_file_in_a_server_replaces_with_a_warning() {
    let (c, d) =
        read("JkMountFile /a\nJkMountFile /b\n<VirtualHost *>\nJkMountFile /c\n</VirtualHost>\n");
    let files: Vec<_> = c
        .mount_files
        .iter()
        .map(|(f, o)| (f.as_str(), o.line))
        .collect();
    assert_eq!(files, [("/b", 2), ("/c", 4)]);
    assert_eq!(lines_of(&d), [2]);
}

#[test]
fn extract_ssl_is_a_flag() {
    let (c, d) = read("JkExtractSSL maybe\nJkExtractSSL Off\n");
    assert_eq!(lines_of(&d), [1], "JkExtractSSL is implemented: no warning");
    assert!(d[0].is_error());
    assert!(!c.ssl_forwarding.extract);
}

#[test]
fn corpus_files_do_not_panic_and_read_sensibly() {
    let dir = std::path::Path::new("/work/shared/corpus/modjk/httpd");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let mut d = Diagnostics::default();
        let Ok(c) = read_apache_conf_file(&path, &|_| None, &mut d) else {
            continue;
        };
        let name = path.display().to_string();
        for item in &d.items {
            assert!(item.origin.line > 0, "{name}: {item}");
        }
        let _ = c.servers();
        if name.ends_with("009-ideaesb-vhosts-continuation.properties") {
            assert_eq!(c.virtual_hosts.len(), 7);
            assert_eq!(c.virtual_hosts[0].server_aliases.len(), 14);
            assert_eq!(c.mounts.len(), 52);
            assert!(c.mounts.iter().all(|r| r.vhost.is_some()));
            // Each virtual host has its own DocumentRoot, which jkd does not serve.
            assert!(
                d.items
                    .iter()
                    .all(|i| i.key == "DocumentRoot" && i.message.contains("<VirtualHost>")),
                "{:?}",
                d.items
            );
            assert_eq!(d.items.len(), 7);
        }
        if name.ends_with("014-ermax81-debian-mounts.properties") {
            assert_eq!(c.mounts.len(), 8);
            assert!(d.items.is_empty(), "{:?}", d.items);
        }
    }
}

fn static_warnings(diags: &[Diagnostic]) -> Vec<(u32, String)> {
    diags
        .iter()
        .map(|d| (d.origin.line, format!("{}: {}", d.key, d.message)))
        .collect()
}

#[test]
fn document_root_alias_and_directory_index_of_the_main_server_are_read() {
    let (conf, diags) = read(
        "ServerRoot /srv/httpd\nDocumentRoot htdocs\nAlias /static/ /var/static/\n\
         Alias /icons relicons\nDirectoryIndex index.htm default.html\n",
    );
    assert!(errors(&diags).is_empty(), "{diags:?}");
    let site = &conf.static_files;
    let (root, origin) = site.document_root.clone().unwrap();
    assert_eq!(root.to_str(), Some("/srv/httpd/htdocs"));
    assert_eq!(origin.line, 2);
    let aliases: Vec<_> = site
        .aliases
        .iter()
        .map(|a| (a.url_path.as_str(), a.directory.to_str().unwrap_or("")))
        .collect();
    assert_eq!(
        aliases,
        [
            ("/static/", "/var/static/"),
            ("/icons", "/srv/httpd/relicons")
        ]
    );
    assert_eq!(site.directory_index, ["index.htm", "default.html"]);
}

#[test]
fn directory_index_defaults_to_index_html_and_can_be_disabled() {
    let (conf, _) = read("DocumentRoot /tmp\n");
    assert_eq!(conf.static_files.directory_index, ["index.html"]);
    let (conf, _) = read("DirectoryIndex disabled\n");
    assert!(conf.static_files.directory_index.is_empty());
}

#[test]
fn redirect_forms_give_status_and_target() {
    let (conf, diags) = read(
        "Redirect /a http://x/a\nRedirect permanent /b /new/b\nRedirect 303 /c /see\n\
         Redirect gone /d\nRedirectMatch ^/$ /jw/\nRedirectMatch 301 ^/img/(.*)$ /images/$1\n\
         RedirectPermanent /e /e2\nRedirectTemp /f /f2\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let answers: Vec<_> = ["/a/x", "/b", "/c", "/d/z", "/", "/img/p.png", "/e", "/f"]
        .iter()
        .map(|p| {
            let a = conf.static_files.redirect_for(p, None).unwrap();
            (a.status, a.location)
        })
        .collect();
    let expected: Vec<(u16, Option<String>)> = vec![
        (302, Some("http://x/a/x".into())),
        (301, Some("/new/b".into())),
        (303, Some("/see".into())),
        (410, None),
        (302, Some("/jw/".into())),
        (301, Some("/images/p.png".into())),
        (301, Some("/e2".into())),
        (302, Some("/f2".into())),
    ];
    assert_eq!(answers, expected);
    assert!(conf.static_files.redirect_for("/other", None).is_none());
}

#[test]
fn redirects_httpd_refuses_are_errors() {
    for (line, needle) in [
        ("Redirect permanent /a\n", "needs a URL"),
        ("Redirect gone /a /b\n", "takes no URL"),
        ("Redirect /a relative/path\n", "non-URL"),
        ("Redirect\n", "[status]"),
        ("Alias /only-one\n", "two arguments"),
        ("DocumentRoot\n", "one argument"),
        ("DirectoryIndex\n", "at least one"),
        ("<Directory /x>\nAlias /a /b\n</Directory>\n", "not allowed"),
    ] {
        let (_, diags) = read(line);
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{line}: {diags:?}");
        assert!(errs[0].message.contains(needle), "{line}: {errs:?}");
    }
}

#[test]
fn what_jkd_does_not_do_is_a_warning_with_its_line() {
    let (conf, diags) = read(
        "DocumentRoot /srv/www\nAliasMatch ^/x(.*) /y$1\n<VirtualHost *:80>\nDocumentRoot /srv/other\n\
         DocumentRoot /srv/www\nRedirect /v /w\nAlias /v /w\n</VirtualHost>\nRedirectMatch (?<=a)b /c\n\
         <Location /l>\nRedirect /m\n</Location>\n",
    );
    assert!(errors(&diags).is_empty(), "{diags:?}");
    let w = static_warnings(&diags);
    let lines: Vec<u32> = w.iter().map(|(l, _)| *l).collect();
    // Line 5 repeats the main server's DocumentRoot: nothing differs, nothing said.
    assert_eq!(lines, [2, 4, 6, 7, 9, 11], "{w:?}");
    assert!(w[0].1.contains("AliasMatch"), "{w:?}");
    assert!(w[1].1.contains("<VirtualHost>"), "{w:?}");
    assert!(w[4].1.contains("cannot read"), "{w:?}");
    assert!(conf.static_files.redirects.is_empty());
    assert!(conf.static_files.aliases.is_empty());
    assert_eq!(
        conf.static_files.document_root.map(|(p, _)| p),
        Some("/srv/www".into())
    );
}
