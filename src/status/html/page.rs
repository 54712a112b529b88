//! The document around the content: head, automatic refresh, style and script, the
//! header with the navigation and access notice, the body for each command, the
//! result line, the legend and the footer.

use std::fmt::Write;

use super::forms::edit_form;
use super::tables::{ajp, balancer};
use super::{Context, escape};
use crate::status::page::{Body, Head, Page, Section};
use crate::status::params::{Command, opt};

/// The page's style sheet.
const STYLE: &str = include_str!("html.css");

/// The page's script: polls the JSON listing, draws the sparklines, updates states.
const SCRIPT: &str = include_str!("html.js");

/// Seconds between two polls of the page's script.
const POLL_SECONDS: u32 = 3;
/// The body of a `303 See Other` answer.
pub fn see_other(location: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>JK Status Manager</title></head><body>\
         <p>Done: back to <a href=\"{0}\">{0}</a>.</p></body></html>\n",
        escape(location)
    )
}
fn section<T>(
    out: &mut String,
    ctx: &Context<'_>,
    s: &Section<T>,
    what: &str,
    bit: u32,
    each: impl Fn(&mut String, &T),
) {
    if s.count == 0 {
        return;
    }
    if s.hidden {
        let _ = writeln!(
            out,
            "<p class=\"note\"><a href=\"{}\">Show {what}</a></p>",
            ctx.href(&[("cmd", "list")], 0, bit)
        );
        return;
    }
    let plural = if s.count > 1 { "s" } else { "" };
    let _ = writeln!(
        out,
        "<h2 class=\"section\">Listing {what} ({} Worker{plural})</h2>",
        s.count
    );
    for item in &s.items {
        each(out, item);
    }
}

fn legend(out: &mut String) {
    out.push_str(
        "<details class=\"legend\"><summary>Legend</summary>\n<table class=\"classic\">\n\
         <tr><th>State</th><td><span class=\"badge s-ok\">OK</span> OK, OK/IDLE (no request since the last maintenance), OK/BUSY (no free connection); \
         <span class=\"badge s-err\">ERR</span> in error; <span class=\"badge s-warn\">ERR/REC</span> to be tried again, ERR/PRB being tried, ERR/FRC tried because every member failed</td></tr>\n\
         <tr><th>Activation</th><td><span class=\"badge a-ok\">ACT</span> active; <span class=\"badge a-dis\">DIS</span> disabled (drained: only requests of existing sessions); \
         <span class=\"badge a-stp\">STP</span> stopped (no requests)</td></tr>\n\
         <tr><th>Requests/s, Errors/s</th><td>Measured by this page every few seconds while it is open</td></tr>\n\
         <tr><th>Act / D / F / M / V</th><td>Activation, distance, load factor, load multiplier, load value</td></tr>\n\
         <tr><th>Acc / Sess / Err / CE / RE</th><td>Requests, new sessions, errors, client errors, reply timeouts</td></tr>\n\
         <tr><th>Wr / Rd</th><td>Bytes sent to and read from the backend</td></tr>\n\
         <tr><th>Busy / Con</th><td>Requests in flight and open backend connections (now / at most)</td></tr>\n\
         <tr><th>RR / Cd</th><td>Redirect route, cluster domain</td></tr>\n\
         <tr><th>Rs / LR / LE</th><td>Seconds until recovery (min/max), seconds since the last reset, time of the last error</td></tr>\n\
         </table></details>\n",
    );
}
/// The line under the navigation that says whether and how changes can be made.
fn access_notice(out: &mut String, ctx: &Context<'_>) {
    let (class, text) = if ctx.settings.read_only {
        (
            "ro",
            "Read-only: this status worker is configured with <code>read_only=true</code>."
                .to_string(),
        )
    } else if !ctx.access.writable {
        (
            "ro",
            "Read-only: jkd was started without <code>--manager-users</code>, so nobody can \
             change anything here."
                .to_string(),
        )
    } else if ctx.params.option(opt::READ_ONLY) {
        (
            "ro",
            format!(
                "Read-only view: the buttons are hidden. <a href=\"{}\">Show them</a>",
                ctx.href(&[("cmd", ctx.command_name())], 0, opt::READ_ONLY)
            ),
        )
    } else if let Some(user) = ctx.remote_user {
        (
            "rw",
            format!(
                "Signed in as <b>{}</b>. Every change is logged with your name and address.",
                escape(user)
            ),
        )
    } else {
        let w = ctx.params.get("w").unwrap_or_default();
        let sw = ctx.params.get("sw").unwrap_or_default();
        (
            "rw",
            format!(
                "Changes ask for a user name and password. <a href=\"{}\">Sign in</a>",
                ctx.href(
                    &[
                        ("cmd", ctx.command_name()),
                        ("w", w),
                        ("sw", sw),
                        ("login", "1")
                    ],
                    0,
                    0
                )
            ),
        )
    };
    let _ = writeln!(out, "<p class=\"notice {class}\"><span>{text}</span></p>");
}
/// The HTML page.
pub fn render(page: &Page, ctx: &Context<'_>) -> String {
    let listing = matches!(ctx.command, Some(Command::List | Command::Show));
    // Only a page about running workers refreshes itself and polls for live numbers.
    let live = page.server.is_some() && listing;
    let mut out = String::new();
    document_head(&mut out, ctx, live);
    top_bar(&mut out, ctx, live);
    out.push_str("</header>\n<main class=\"wrap\">\n");
    if let Some(head) = &page.head {
        version_table(&mut out, ctx, head);
    }
    if page.server.is_some() {
        access_notice(&mut out, ctx);
        navigation(&mut out, ctx, listing);
    }
    content(&mut out, ctx, &page.body);
    result_line(&mut out, ctx, &page.outcome);
    if live && !ctx.params.option(opt::NO_LEGEND) {
        legend(&mut out);
    }
    footer(&mut out, ctx, live);
    out
}

/// From the doctype to `</head>`: the refresh requested with `re=`, the redirect
/// after a change, the style sheets.
fn document_head(out: &mut String, ctx: &Context<'_>, live: bool) {
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n\
         <title>JK Status Manager</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n",
    );
    let refresh = ctx.params.int("re", 0);
    if live && refresh > 0 {
        let target = if ctx.params.masked_query.is_empty() {
            ctx.path.to_string()
        } else {
            format!("{}?{}", ctx.path, ctx.params.masked_query)
        };
        let _ = writeln!(
            out,
            "<meta http-equiv=\"Refresh\" content=\"{refresh};url={}\"/>",
            escape(&target)
        );
    }
    if ctx.action_done {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"Refresh\" content=\"3;url={}\"/>",
            escape(&ctx.back_location())
        );
    }
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    if let Some(css) = &ctx.settings.css {
        let _ = writeln!(
            out,
            "<link rel=\"stylesheet\" type=\"text/css\" href=\"{}\"/>",
            escape(css)
        );
    }
    out.push_str("</head>\n");
}

/// The `<body>` tag (with what the script polls when live) and the header with
/// mod_jk's `<h1>` and the live toggle, left open for the caller to close.
fn top_bar(out: &mut String, ctx: &Context<'_>, live: bool) {
    if live {
        let _ = writeln!(
            out,
            "<body data-poll=\"{}\" data-interval=\"{POLL_SECONDS}\">",
            escape(&format!("{}?cmd=list&mime=json", ctx.path))
        );
    } else {
        out.push_str("<body>\n");
    }
    let _ = writeln!(
        out,
        "<header class=\"top\"><div class=\"brand\">\
         <h1>JK Status Manager for {}:{}{}</h1></div>",
        escape(ctx.server_name),
        ctx.server_port,
        if ctx.read_only { " (read only)" } else { "" }
    );
    if live {
        out.push_str(
            "<div class=\"live\" id=\"live\"><span class=\"dot\"></span>\
             <span id=\"live-text\">live</span>\
             <button type=\"button\" id=\"live-toggle\" class=\"plain\">Pause</button></div>\n",
        );
    }
}

/// mod_jk's `Server Version:` / `JK Version:` table, which scripts grep for.
fn version_table(out: &mut String, ctx: &Context<'_>, head: &Head) {
    let (time, unix) = head
        .time
        .as_ref()
        .map_or((String::new(), String::new()), |t| {
            (ctx.time(t.unix), t.unix.to_string())
        });
    let _ = writeln!(
        out,
        "<table class=\"version\"><tr><td>Server Version:</td><td>{}</td><td>&nbsp;&nbsp;&nbsp;</td>\
         <td>Server Time:</td><td>{}</td></tr>\n\
         <tr><td>JK Version:</td><td>{}</td><td></td><td>Unix Seconds:</td><td>{}</td></tr></table>",
        escape(&head.web_server),
        escape(&time),
        escape(&head.jk_version),
        unix
    );
    if let Some((at, failed)) = head.last_reload {
        let outcome = if failed {
            "refused: the configuration before it is still running (the log names file:line)"
        } else {
            "applied"
        };
        let _ = writeln!(
            out,
            "<p class=\"reload\">Last reload: {} &mdash; {outcome}</p>",
            escape(&ctx.time(at))
        );
    }
}

/// The links under the header: back to the list, the other formats of a listing,
/// the read-only switch, the dump.
fn navigation(out: &mut String, ctx: &Context<'_>, listing: bool) {
    let mut nav = Vec::new();
    let cmd = ctx.command_name();
    let w = ctx.params.get("w").unwrap_or_default();
    let sw = ctx.params.get("sw").unwrap_or_default();
    if ctx.command != Some(Command::List) {
        nav.push(ctx.link("Back to worker list", &[("cmd", "list")]));
    }
    if listing {
        for (label, mime) in [
            ("XML", "xml"),
            ("Properties", "prop"),
            ("Text", "txt"),
            ("JSON", "json"),
        ] {
            nav.push(ctx.link(label, &[("cmd", cmd), ("mime", mime), ("w", w), ("sw", sw)]));
        }
        if !ctx.settings.read_only && ctx.access.writable {
            let (label, add, remove) = if ctx.read_only {
                ("Read/Write", 0, opt::READ_ONLY)
            } else {
                ("Read Only", opt::READ_ONLY, 0)
            };
            nav.push(format!(
                "<a href=\"{}\">{label}</a>",
                ctx.href(&[("cmd", cmd), ("w", w), ("sw", sw)], add, remove)
            ));
        }
    }
    nav.push(ctx.link("Dump", &[("cmd", "dump")]));
    let _ = writeln!(out, "<nav class=\"links\">{}</nav>", nav.join(""));
}

/// What the command shows: the worker lists, one worker, an edit form or the dump.
fn content(out: &mut String, ctx: &Context<'_>, body: &Body) {
    match body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            section(
                out,
                ctx,
                balancers,
                "Load Balancing Workers",
                opt::NO_LB,
                |out, lb| balancer(out, ctx, lb, false),
            );
            section(
                out,
                ctx,
                ajp_workers,
                "AJP Workers",
                opt::NO_AJP,
                |out, w| ajp(out, ctx, w, false),
            );
        }
        Body::Balancer(lb) => balancer(out, ctx, lb, true),
        Body::Ajp(w) => ajp(out, ctx, w, true),
        Body::Edit(form) => {
            out.push_str("<section class=\"card edit\">\n");
            edit_form(out, ctx, form);
            out.push_str("</section>\n");
        }
        Body::Dump(entries) => {
            out.push_str(
                "<section class=\"card\"><div class=\"card-head\"><h3>Configuration Data</h3></div>\n\
                 <p class=\"pad\">As read at startup; changes made here since are not included.</p>\n<pre class=\"pad\">\n",
            );
            for (k, v) in entries {
                let _ = writeln!(out, "{}={}", escape(k), escape(v));
            }
            out.push_str("</pre></section>\n");
        }
        Body::Nothing => {}
    }
}

/// mod_jk's `Result:` line: the error, or the redirect notice after a change.
fn result_line(out: &mut String, ctx: &Context<'_>, outcome: &Result<(), String>) {
    match outcome {
        Err(message) => {
            let _ = writeln!(
                out,
                "<p class=\"result err\"><b>Result: ERROR - {}</b></p>",
                escape(message)
            );
        }
        Ok(()) if ctx.action_done => {
            out.push_str(
                "<p class=\"result ok\"><b>Result: OK - You will be redirected in 3 seconds.</b></p>\n",
            );
        }
        Ok(()) => {}
    }
}

/// The footer, the script when live, and the end of the document.
fn footer(out: &mut String, ctx: &Context<'_>, live: bool) {
    let _ = writeln!(
        out,
        "<footer><a href=\"{}\">JK Status Manager Start Page</a> &middot; {} speaking the status protocol of mod_jk/{}</footer>\n</main>",
        escape(ctx.path),
        escape(&crate::status::web_server()),
        crate::status::MOD_JK_VERSION
    );
    if live {
        let _ = writeln!(out, "<script>\n{SCRIPT}</script>");
    }
    out.push_str("</body>\n</html>\n");
}
