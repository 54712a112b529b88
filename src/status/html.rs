//! The HTML page of the status worker: one self-contained page (inline CSS and script, no other request but its own JSON) with every balancer and its members, their state and activation in colour, live request and error rates drawn as sparklines, buttons to activate, drain, stop, reset and recover a member, and mod_jk's full tables one click away; everything from the configuration or the request is escaped.
//!
//! What scripts grep for stays as mod_jk prints it: `<h1>JK Status Manager for
//! host:port</h1>` (with ` (read only)` when it is) and the `Server Version:` row,
//! and every link keeps the `cmd=` / `mime=` / `w=` / `sw=` / `opt=` scheme. The
//! page's script polls `?cmd=list&mime=json` every few seconds and updates the page
//! in place; without the script the page is complete, only not live.
//!
//! Changes are forms posting to the status worker with the process's token (see
//! [`super::auth`]); they are left out when the manager is read-only.

use std::fmt::Write;

use super::Access;
use super::auth::TOKEN_FIELD;
use super::clock;
use super::page::{Body, EditForm, Page, Section};
use super::params::{Command, Params, opt};
use super::view::{AjpView, LbView, MapView, MemberView};
use crate::balancer::MemberState;
use crate::config::values::Activation;
use crate::config::workers::StatusSettings;

/// The page's style sheet.
const STYLE: &str = include_str!("html.css");

/// The page's script: polls the JSON listing, draws the sparklines, updates states.
const SCRIPT: &str = include_str!("html.js");

/// Seconds between two polls of the page's script.
const POLL_SECONDS: u32 = 3;

/// What the HTML page needs beyond the content.
pub struct Context<'a> {
    pub settings: &'a StatusSettings,
    pub params: &'a Params,
    /// The status worker's base path ([`super::base_path`]), which every link and
    /// form points to.
    pub path: &'a str,
    pub command: Option<Command>,
    pub read_only: bool,
    pub server_name: &'a str,
    pub server_port: u16,
    /// An update, reset or recover succeeded: the page sends the browser back.
    pub action_done: bool,
    /// Whether anyone can write, and the forms' token.
    pub access: Access<'a>,
    /// The signed-in user.
    pub remote_user: Option<&'a str>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                out.push(char::from(b));
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// APR's `apr_strfsize`, as mod_jk prints byte counts: below 973 the plain number
/// and a space, else one decimal below 9.95 of a unit, else a rounded whole number,
/// with K, M, G, T, P or E.
pub fn size(bytes: u64) -> String {
    if bytes < 973 {
        return format!("{bytes} ");
    }
    let units = ['K', 'M', 'G', 'T', 'P', 'E'];
    let mut value = bytes;
    for unit in units {
        let remainder = value & 0x3FF;
        value >>= 10;
        if value >= 973 {
            continue;
        }
        if value < 9 || (value == 9 && remainder < 973) {
            let mut tenths = (remainder * 5 + 256) / 512;
            let mut whole = value;
            if tenths >= 10 {
                whole += 1;
                tenths = 0;
            }
            return format!("{whole}.{tenths}{unit}");
        }
        let whole = if remainder >= 512 { value + 1 } else { value };
        return format!("{whole}{unit}");
    }
    format!("{value}E")
}

/// The colour class of a member's state: OK green, ERR red, on the way back amber.
fn state_class(state: MemberState) -> &'static str {
    match state {
        MemberState::Idle | MemberState::Ok | MemberState::Busy => "ok",
        MemberState::Error => "err",
        MemberState::Recover | MemberState::Force | MemberState::Probe => "warn",
    }
}

/// The colour class of an activation: active green, disabled grey-blue, stopped grey.
fn activation_class(activation: Activation) -> &'static str {
    match activation {
        Activation::Active => "ok",
        Activation::Disabled => "dis",
        Activation::Stopped => "stp",
    }
}

/// The colour of a member's row: a failing state first, then its activation.
fn row_class(activation: Activation, state: MemberState) -> &'static str {
    match (state_class(state), activation) {
        ("ok", a) => activation_class(a),
        (s, _) => s,
    }
}

/// The letter of an activation in `vwa=` and the label of its button.
const ACTIVATIONS: [(Activation, &str, &str, &str); 3] = [
    (
        Activation::Active,
        "A",
        "Activate",
        "Take new sessions again",
    ),
    (
        Activation::Disabled,
        "D",
        "Drain",
        "Only requests of existing sessions (activation D)",
    ),
    (
        Activation::Stopped,
        "S",
        "Stop",
        "No requests at all (activation S)",
    ),
];

impl Context<'_> {
    /// A link back to this status worker with the given parameters and the current
    /// `opt` (changed by `add`/`remove`), not yet escaped.
    fn raw_href(&self, pairs: &[(&str, &str)], add: u32, remove: u32) -> String {
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let options = (self.params.options() | add) & !remove;
        if options != 0 {
            query.push(format!("opt={options}"));
        }
        if query.is_empty() {
            self.path.to_string()
        } else {
            format!("{}?{}", self.path, query.join("&"))
        }
    }

    /// [`Self::raw_href`], escaped for an attribute.
    fn href(&self, pairs: &[(&str, &str)], add: u32, remove: u32) -> String {
        escape(&self.raw_href(pairs, add, remove))
    }

    fn link(&self, text: &str, pairs: &[(&str, &str)]) -> String {
        format!(
            "<a href=\"{}\">{}</a>",
            self.href(pairs, 0, 0),
            escape(text)
        )
    }

    fn command_name(&self) -> &'static str {
        self.command.unwrap_or(Command::List).as_str()
    }

    /// Where the browser goes after an update, reset or recover: back to the list, or
    /// to the worker when the change came from its page (not escaped). After a form
    /// the page asks the browser for its credentials again (`login=1`), which it
    /// sends without asking the user, so that the page says who is signed in.
    pub fn back_location(&self) -> String {
        let w = self.params.get("w").unwrap_or_default();
        let login = if self.access.from_form && self.remote_user.is_some() {
            "1"
        } else {
            ""
        };
        match self.params.get("from") {
            Some("show") => self.raw_href(&[("cmd", "show"), ("w", w), ("login", login)], 0, 0),
            _ => self.raw_href(&[("cmd", "list"), ("login", login)], 0, 0),
        }
    }

    /// The page offers changes: anyone can sign in and nothing makes it read-only.
    fn offers_changes(&self) -> bool {
        !self.read_only && self.access.writable
    }

    fn time(&self, unix: i64) -> String {
        clock::html(unix).unwrap_or_else(|| unix.to_string())
    }

    /// The start of a form that posts to the status worker with the token and the
    /// given fields.
    fn form_open(&self, out: &mut String, class: &str, fields: &[(&str, &str)]) {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{}\" class=\"{class}\">\
             <input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"{}\"/>",
            escape(self.path),
            escape(self.access.token)
        );
        for (name, value) in fields {
            if !value.is_empty() {
                let _ = write!(
                    out,
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\"/>",
                    escape(value)
                );
            }
        }
        let options = self.params.options();
        if options != 0 {
            let _ = write!(
                out,
                "<input type=\"hidden\" name=\"opt\" value=\"{options}\"/>"
            );
        }
    }

    /// One button in a form of its own.
    #[allow(clippy::too_many_arguments)]
    fn button(
        &self,
        out: &mut String,
        fields: &[(&str, &str)],
        action: &str,
        label: &str,
        title: &str,
        class: &str,
        pressed: Option<bool>,
    ) {
        self.form_open(out, "b", fields);
        let pressed = match pressed {
            Some(true) => " aria-pressed=\"true\" disabled=\"disabled\"",
            Some(false) => " aria-pressed=\"false\"",
            None => "",
        };
        let _ = write!(
            out,
            "<button type=\"submit\" class=\"{class}\" data-action=\"{action}\" title=\"{}\"{pressed}>{}</button></form>",
            escape(title),
            escape(label)
        );
    }
}

/// The body of a `303 See Other` answer.
pub fn see_other(location: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>JK Status Manager</title></head><body>\
         <p>Done: back to <a href=\"{0}\">{0}</a>.</p></body></html>\n",
        escape(location)
    )
}

fn cells(out: &mut String, values: &[String]) {
    out.push_str("<tr>");
    for v in values {
        let _ = write!(out, "<td>{v}</td>");
    }
    out.push_str("</tr>\n");
}

fn header(out: &mut String, names: &[&str]) {
    out.push_str("<tr>");
    for n in names {
        let _ = write!(out, "<th>{n}</th>");
    }
    out.push_str("</tr>\n");
}

fn or_nbsp(text: &str) -> String {
    if text.is_empty() {
        "&nbsp;".into()
    } else {
        escape(text)
    }
}

/// An empty sparkline that the script fills in.
fn sparkline(out: &mut String, kind: &str, title: &str) {
    let _ = write!(
        out,
        "<td class=\"spark {kind}\" title=\"{title}\"><svg viewBox=\"0 0 100 28\" preserveAspectRatio=\"none\" \
         aria-hidden=\"true\"><path class=\"area\" d=\"\"/><path class=\"base\" d=\"M0 27.5H100\"/>\
         <path class=\"line\" d=\"\"/></svg><span class=\"rate\">&ndash;</span></td>"
    );
}

fn maps(out: &mut String, ctx: &Context<'_>, worker: &str, count: usize, list: &[MapView]) {
    if ctx.params.option(opt::NO_MAPS) {
        return;
    }
    if count == 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">Warning: No URI Mappings defined for {} !</p>",
            escape(worker)
        );
        return;
    }
    let _ = writeln!(
        out,
        "<details class=\"more\"><summary>URI Mappings for {} ({count} maps)</summary>\
         <div class=\"scroll\"><table class=\"classic\">",
        escape(worker)
    );
    header(
        out,
        &[
            "Server",
            "URI",
            "Match Type",
            "Source",
            "Reply Timeout",
            "Sticky Ignore",
            "Stateless",
            "Fail on Status",
            "Active",
            "Disabled",
            "Stopped",
            "Use Server Errors",
        ],
    );
    let dash = |v: &Option<String>| v.as_deref().map_or("-".to_string(), escape);
    for m in list {
        cells(
            out,
            &[
                escape(&m.server),
                escape(&m.uri),
                escape(&m.type_text),
                escape(m.source),
                m.reply_timeout.to_string(),
                i32::from(m.sticky_ignore).to_string(),
                i32::from(m.stateless).to_string(),
                dash(&m.fail_on_status),
                dash(&m.active),
                dash(&m.disabled),
                dash(&m.stopped),
                m.use_server_errors.to_string(),
            ],
        );
    }
    out.push_str("</table></div></details>\n");
}

/// One member in the balancer's main table.
fn member_row(out: &mut String, ctx: &Context<'_>, lb: &str, m: &MemberView, single: bool) {
    let series = format!("m:{lb}/{}", m.name);
    let _ = write!(
        out,
        "<tr class=\"member k-{}\" data-series=\"{}\" data-sw=\"{}\" data-n=\"{}\" data-e=\"{}\">",
        row_class(m.activation, m.state),
        escape(&series),
        escape(&m.name),
        m.traffic.requests,
        m.traffic.errors
    );
    let name = if single {
        format!("<b>{}</b>", escape(&m.name))
    } else {
        format!(
            "<a href=\"{}\"><b>{}</b></a>",
            ctx.href(&[("cmd", "show"), ("w", lb), ("sw", &m.name)], 0, 0),
            escape(&m.name)
        )
    };
    let _ = write!(
        out,
        "<td class=\"name\">{name}<small>route {} &middot; factor <span data-f=\"lbfactor\">{}</span> \
         &middot; {}</small></td>",
        escape(&m.route),
        m.lbfactor,
        escape(&m.conf.address)
    );
    let _ = write!(
        out,
        "<td><span class=\"badge s-{}\" data-f=\"state\">{}</span></td>\
         <td><span class=\"badge a-{}\" data-f=\"activation\">{}</span></td>",
        state_class(m.state),
        m.state.as_str(),
        activation_class(m.activation),
        m.activation.as_str()
    );
    sparkline(out, "req", "Requests per second");
    sparkline(out, "err", "Errors per second");
    for (field, value) in [
        ("elected", m.traffic.requests),
        ("errors", m.traffic.errors),
        ("busy", m.traffic.busy),
        ("sessions", m.sessions),
    ] {
        let _ = write!(out, "<td class=\"num\" data-f=\"{field}\">{value}</td>");
    }
    if ctx.offers_changes() {
        out.push_str("<td class=\"actions\"><span class=\"seg\">");
        let from = ctx.command_name();
        for (activation, letter, label, title) in ACTIVATIONS {
            ctx.button(
                out,
                &[
                    ("cmd", "update"),
                    ("from", from),
                    ("w", lb),
                    ("sw", &m.name),
                    ("vwa", letter),
                ],
                &label.to_ascii_lowercase(),
                label,
                title,
                &format!("v-{letter}"),
                Some(m.activation == activation),
            );
        }
        out.push_str("</span>");
        ctx.button(
            out,
            &[("cmd", "reset"), ("from", from), ("w", lb), ("sw", &m.name)],
            "reset",
            "Reset",
            "Set this member's counters to zero",
            "plain",
            None,
        );
        let hidden = if m.state == MemberState::Error {
            ""
        } else {
            " hide"
        };
        ctx.button(
            out,
            &[
                ("cmd", "recover"),
                ("from", from),
                ("w", lb),
                ("sw", &m.name),
            ],
            "recover",
            "Recover",
            "Try this member again at once",
            &format!("plain warnb{hidden}"),
            None,
        );
        let _ = write!(
            out,
            "<a class=\"edit\" href=\"{}\" title=\"Route, factor, domain, distance ...\">Edit</a></td>",
            ctx.href(
                &[("cmd", "edit"), ("from", from), ("w", lb), ("sw", &m.name)],
                0,
                0
            )
        );
    }
    out.push_str("</tr>\n");
}

/// mod_jk's member table with every column.
fn classic_members(out: &mut String, ctx: &Context<'_>, lb: &LbView) {
    out.push_str(
        "<details class=\"more\"><summary>All member columns</summary>\
         <div class=\"scroll\"><table class=\"classic\">",
    );
    header(
        out,
        &[
            "Name", "Act", "State", "D", "F", "M", "V", "Acc", "Sess", "Err", "CE", "RE", "Wr",
            "Rd", "Busy", "MaxBusy", "Con", "MaxCon", "Route", "RR", "Cd", "Rs", "LR", "LE",
        ],
    );
    for m in &lb.members {
        let error = m
            .error
            .as_ref()
            .map_or("&nbsp;".to_string(), |e| escape(&ctx.time(e.stamp.unix)));
        cells(
            out,
            &[
                escape(&m.name),
                m.activation.as_str().to_string(),
                m.state.as_str().to_string(),
                m.distance.to_string(),
                m.lbfactor.to_string(),
                m.lbmult.to_string(),
                m.lbvalue.to_string(),
                m.traffic.requests.to_string(),
                m.sessions.to_string(),
                m.traffic.errors.to_string(),
                m.traffic.client_errors.to_string(),
                m.traffic.reply_timeouts.to_string(),
                size(m.traffic.transferred),
                size(m.traffic.read),
                m.traffic.busy.to_string(),
                m.traffic.max_busy.to_string(),
                m.traffic.connected.to_string(),
                m.traffic.max_connected.to_string(),
                escape(&m.route),
                or_nbsp(&m.redirect),
                or_nbsp(&m.domain),
                format!("{}/{}", m.time_to_recover_min, m.time_to_recover_max),
                m.last_reset_ago.to_string(),
                error,
            ],
        );
    }
    out.push_str("</table></div></details>\n");
}

fn conf_item(out: &mut String, label: &str, value: &str) {
    let _ = write!(out, "<span>{label} <b>{value}</b></span>");
}

fn balancer(out: &mut String, ctx: &Context<'_>, lb: &LbView, single: bool) {
    let name = escape(&lb.name);
    let _ = write!(
        out,
        "<section class=\"card lb\" data-w=\"{name}\">\n<div class=\"card-head\">\
         <h3><span class=\"kind\">Balancer</span> Worker Status for {name}</h3>"
    );
    if !ctx.params.option(opt::NO_LB_SUMMARY) {
        let _ = write!(
            out,
            "<div class=\"health\"><span class=\"pill ok\"><b data-f=\"good\">{}</b> good</span>\
             <span class=\"pill warn\"><b data-f=\"degraded\">{}</b> degraded</span>\
             <span class=\"pill bad\"><b data-f=\"bad\">{}</b> bad/stopped</span>\
             <span class=\"pill\"><b data-f=\"busy\">{}</b> busy</span></div>",
            lb.good, lb.degraded, lb.bad, lb.busy
        );
    }
    out.push_str("<div class=\"tools\">");
    worker_tools(
        out,
        ctx,
        &lb.name,
        single,
        "Reset all",
        "Set the counters of the balancer and all its members to zero",
    );
    out.push_str("</div></div>\n");
    let show_conf = !ctx.params.option(opt::NO_LB_CONF);
    let show_summary = !ctx.params.option(opt::NO_LB_SUMMARY);
    if show_conf || show_summary {
        out.push_str("<div class=\"conf\">");
        let tf = |b: bool| if b { "True" } else { "False" };
        if show_conf {
            conf_item(out, "Sticky Sessions", tf(lb.sticky_session));
            conf_item(out, "Force Sticky Sessions", tf(lb.sticky_session_force));
            conf_item(out, "LB Method", lb.method);
            conf_item(out, "Locking", lb.lock);
            conf_item(out, "Retries", &lb.retries.to_string());
            conf_item(out, "Recover Wait Time", &format!("{} s", lb.recover_time));
            conf_item(
                out,
                "Error Escalation Time",
                &format!("{} s", lb.error_escalation_time),
            );
            conf_item(
                out,
                "Max Reply Timeouts",
                &lb.max_reply_timeouts.to_string(),
            );
        }
        if show_summary {
            conf_item(out, "Max Busy", &lb.max_busy.to_string());
            conf_item(
                out,
                "Next Maintenance",
                &format!(
                    "{}/{} s",
                    lb.time_to_maintenance_min, lb.time_to_maintenance_max
                ),
            );
            conf_item(out, "Last Reset", &format!("{} s ago", lb.last_reset_ago));
        }
        out.push_str("</div>\n");
    }
    if lb.members_shown {
        out.push_str("<div class=\"scroll\"><table class=\"members\"><thead>");
        let mut names = vec![
            "Member",
            "State",
            "Activation",
            "Requests/s",
            "Errors/s",
            "<span class=\"r\">Requests</span>",
            "<span class=\"r\">Errors</span>",
            "<span class=\"r\">Busy</span>",
            "<span class=\"r\">Sessions</span>",
        ];
        if ctx.offers_changes() {
            names.push("Actions");
        }
        header(out, &names);
        out.push_str("</thead><tbody>\n");
        for m in &lb.members {
            member_row(out, ctx, &lb.name, m, single && lb.members.len() == 1);
        }
        out.push_str("</tbody></table></div>\n");
        classic_members(out, ctx, lb);
        if ctx.offers_changes() {
            let _ = writeln!(
                out,
                "<p class=\"allm\">Edit one attribute of all members: {}</p>",
                [
                    ("vwa", "Activation"),
                    ("vwf", "LB Factor"),
                    ("vwn", "Route"),
                    ("vwr", "Redirect Route"),
                    ("vwc", "Cluster Domain"),
                    ("vwd", "Distance"),
                ]
                .iter()
                .map(|(att, label)| ctx.link(
                    label,
                    &[
                        ("cmd", "edit"),
                        ("from", ctx.command_name()),
                        ("w", &lb.name),
                        ("att", att),
                    ]
                ))
                .collect::<Vec<_>>()
                .join(" &middot; ")
            );
        }
    }
    maps(out, ctx, &lb.name, lb.map_count, &lb.maps);
    out.push_str("</section>\n");
}

/// The Show link (unless the page shows this worker alone), and Edit and Reset when
/// changes are offered: the tools of a balancer's or an AJP worker's card.
fn worker_tools(
    out: &mut String,
    ctx: &Context<'_>,
    worker: &str,
    single: bool,
    reset_label: &str,
    reset_title: &str,
) {
    if !single {
        out.push_str(&ctx.link("Show", &[("cmd", "show"), ("w", worker)]));
    }
    if ctx.offers_changes() {
        let from = ctx.command_name();
        let _ = write!(
            out,
            "<a href=\"{}\">Edit</a>",
            ctx.href(&[("cmd", "edit"), ("from", from), ("w", worker)], 0, 0)
        );
        ctx.button(
            out,
            &[("cmd", "reset"), ("from", from), ("w", worker)],
            "reset",
            reset_label,
            reset_title,
            "plain",
            None,
        );
    }
}

fn ajp(out: &mut String, ctx: &Context<'_>, w: &AjpView, single: bool) {
    let name = escape(&w.name);
    let _ = write!(
        out,
        "<section class=\"card ajp\" data-w=\"{name}\">\n<div class=\"card-head\">\
         <h3><span class=\"kind\">AJP worker</span> Worker Status for {name}</h3><div class=\"tools\">"
    );
    worker_tools(
        out,
        ctx,
        &w.name,
        single,
        "Reset",
        "Set this worker's counters to zero",
    );
    out.push_str("</div></div>\n");
    if !ctx.params.option(opt::NO_AJP_CONF) {
        let c = &w.conf;
        out.push_str("<div class=\"conf\">");
        conf_item(out, "Type", c.type_name);
        conf_item(out, "Hostname", &escape(&c.host));
        conf_item(out, "Address:Port", &escape(&c.address));
        conf_item(out, "Source", &escape(&c.source));
        conf_item(
            out,
            "Connection Pool Timeout",
            &c.connection_pool_timeout.to_string(),
        );
        conf_item(out, "Connect Timeout", &c.connect_timeout.to_string());
        conf_item(out, "Prepost Timeout", &c.prepost_timeout.to_string());
        conf_item(out, "Reply Timeout", &c.reply_timeout.to_string());
        conf_item(out, "Retries", &c.retries.to_string());
        conf_item(out, "Recovery Options", &c.recovery_options.to_string());
        conf_item(out, "Busy Limit", &c.busy_limit.to_string());
        conf_item(out, "Max Packet Size", &c.max_packet_size.to_string());
        out.push_str("</div>\n");
    }
    out.push_str("<div class=\"scroll\"><table class=\"members\"><thead>");
    header(
        out,
        &[
            "Requests/s",
            "Errors/s",
            "<span class=\"r\">Requests</span>",
            "<span class=\"r\">Errors</span>",
            "<span class=\"r\">Client Errors</span>",
            "<span class=\"r\">Reply Timeouts</span>",
            "<span class=\"r\">Written</span>",
            "<span class=\"r\">Read</span>",
            "<span class=\"r\">Busy</span>",
            "<span class=\"r\">Max Busy</span>",
            "<span class=\"r\">Connections</span>",
            "<span class=\"r\">Max Conn.</span>",
            "<span class=\"r\">Last Reset</span>",
        ],
    );
    out.push_str("</thead><tbody>\n");
    let t = &w.traffic;
    let _ = write!(
        out,
        "<tr class=\"member k-ok\" data-series=\"{}\" data-n=\"{}\" data-e=\"{}\">",
        escape(&format!("w:{}", w.name)),
        t.requests,
        t.errors
    );
    sparkline(out, "req", "Requests per second");
    sparkline(out, "err", "Errors per second");
    for (field, value) in [
        ("used", t.requests.to_string()),
        ("errors", t.errors.to_string()),
        ("client_errors", t.client_errors.to_string()),
        ("reply_timeouts", t.reply_timeouts.to_string()),
        ("", size(t.transferred)),
        ("", size(t.read)),
        ("busy", t.busy.to_string()),
        ("max_busy", t.max_busy.to_string()),
        ("connected", t.connected.to_string()),
        ("max_connected", t.max_connected.to_string()),
        ("", format!("{} s ago", w.last_reset_ago)),
    ] {
        if field.is_empty() {
            let _ = write!(out, "<td class=\"num\">{value}</td>");
        } else {
            let _ = write!(out, "<td class=\"num\" data-f=\"{field}\">{value}</td>");
        }
    }
    out.push_str("</tr>\n</tbody></table></div>\n");
    maps(out, ctx, &w.name, w.map_count, &w.maps);
    out.push_str("</section>\n");
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
fn form_start(out: &mut String, ctx: &Context<'_>, hidden: &[(&str, &str)]) {
    ctx.form_open(out, "edit pad", hidden);
    out.push('\n');
}

fn text_input(out: &mut String, label: &str, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "<tr><td>{label}:</td><td><input name=\"{name}\" type=\"text\" value=\"{}\"/></td></tr>",
        escape(value)
    );
}

fn select(out: &mut String, label: &str, name: &str, options: &[&str], current: &str) {
    let _ = write!(
        out,
        "<tr><td>{label}:</td><td><select name=\"{name}\" size=\"1\">"
    );
    for o in options {
        let selected = if *o == current {
            " selected=\"selected\""
        } else {
            ""
        };
        let _ = write!(out, "<option value=\"{o}\"{selected}>{o}</option>");
    }
    out.push_str("</select></td></tr>\n");
}

fn activation_code(a: Activation) -> &'static str {
    match a {
        Activation::Active => "Active",
        Activation::Disabled => "Disabled",
        Activation::Stopped => "Stopped",
    }
}

fn edit_form(out: &mut String, ctx: &Context<'_>, form: &EditForm) {
    let from = ctx.params.get("from").unwrap_or("list");
    let tf = |b: bool| if b { "True" } else { "False" };
    match form {
        EditForm::Balancer(lb) => {
            let _ = writeln!(
                out,
                "<div class=\"card-head\"><h3>Edit load balancer settings for {}</h3></div>",
                escape(&lb.name)
            );
            form_start(
                out,
                ctx,
                &[("cmd", "update"), ("from", from), ("w", &lb.name)],
            );
            out.push_str("<table class=\"form\">\n");
            text_input(out, "Retries", "vlr", &lb.retries.to_string());
            text_input(
                out,
                "Retry Interval",
                "vlri",
                &lb.retry_interval.to_string(),
            );
            text_input(
                out,
                "Recover Wait Time",
                "vlt",
                &lb.recover_time.to_string(),
            );
            text_input(
                out,
                "Error Escalation Time",
                "vlee",
                &lb.error_escalation_time.to_string(),
            );
            text_input(
                out,
                "Max Reply Timeouts",
                "vlx",
                &lb.max_reply_timeouts.to_string(),
            );
            select(
                out,
                "Sticky Sessions",
                "vls",
                &["True", "False"],
                tf(lb.sticky_session),
            );
            select(
                out,
                "Force Sticky Sessions",
                "vlf",
                &["True", "False"],
                tf(lb.sticky_session_force),
            );
            select(
                out,
                "LB Method",
                "vlm",
                &["Request", "Sessions", "Next", "Traffic", "Busyness"],
                lb.method,
            );
            select(
                out,
                "Locking",
                "vll",
                &["Optimistic", "Pessimistic"],
                lb.lock,
            );
            out.push_str("</table>\n<input type=\"submit\" value=\"Update Balancer\"/>\n</form>\n");
        }
        EditForm::Member(lb) => {
            let Some(m) = lb.members.first() else {
                return;
            };
            let _ = writeln!(
                out,
                "<div class=\"card-head\"><h3>Edit worker settings for {} of {}</h3></div>",
                escape(&m.name),
                escape(&lb.name)
            );
            form_start(
                out,
                ctx,
                &[
                    ("cmd", "update"),
                    ("from", from),
                    ("w", &lb.name),
                    ("sw", &m.name),
                ],
            );
            out.push_str("<table class=\"form\">\n");
            select(
                out,
                "Activation",
                "vwa",
                &["Active", "Disabled", "Stopped"],
                activation_code(m.activation),
            );
            text_input(out, "LB Factor", "vwf", &m.lbfactor.to_string());
            text_input(out, "Route", "vwn", &m.route);
            text_input(out, "Redirect Route", "vwr", &m.redirect);
            text_input(out, "Cluster Domain", "vwc", &m.domain);
            text_input(out, "Distance", "vwd", &m.distance.to_string());
            out.push_str("</table>\n<input type=\"submit\" value=\"Update Worker\"/>\n</form>\n");
            out.push_str(
                "<p class=\"pad note\">The connection settings of a worker (host, port, timeouts, retries, \
                 packet size) are read from workers.properties at startup.</p>\n",
            );
        }
        EditForm::AllMembers(lb, att) => {
            let label = match att.as_str() {
                "vwa" => "Activation",
                "vwf" => "LB Factor",
                "vwn" => "Route",
                "vwr" => "Redirect Route",
                "vwc" => "Cluster Domain",
                "vwd" => "Distance",
                _ => {
                    let _ = writeln!(
                        out,
                        "<p class=\"pad\">jkd cannot change '{}' of the members while running.</p>",
                        escape(att)
                    );
                    return;
                }
            };
            let _ = writeln!(
                out,
                "<div class=\"card-head\"><h3>Edit {label} for all members of {}</h3></div>",
                escape(&lb.name)
            );
            form_start(
                out,
                ctx,
                &[
                    ("cmd", "update"),
                    ("from", from),
                    ("w", &lb.name),
                    ("att", att),
                ],
            );
            out.push_str("<table class=\"form\">\n");
            for m in &lb.members {
                let name = format!("val{}", m.index);
                let member = escape(&m.name);
                match att.as_str() {
                    "vwa" => select(
                        out,
                        &member,
                        &name,
                        &["Active", "Disabled", "Stopped"],
                        activation_code(m.activation),
                    ),
                    "vwf" => text_input(out, &member, &name, &m.lbfactor.to_string()),
                    "vwn" => text_input(out, &member, &name, &m.route),
                    "vwr" => text_input(out, &member, &name, &m.redirect),
                    "vwc" => text_input(out, &member, &name, &m.domain),
                    _ => text_input(out, &member, &name, &m.distance.to_string()),
                }
            }
            out.push_str("</table>\n<input type=\"submit\" value=\"Update Balancer\"/>\n</form>\n");
        }
        EditForm::Ajp(w) => {
            let _ = writeln!(
                out,
                "<div class=\"card-head\"><h3>Settings of {}</h3></div>\n<p class=\"pad\">jkd reads the settings of an AJP worker from \
                 workers.properties at startup; they cannot be changed while it runs.</p>",
                escape(&w.name)
            );
        }
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
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n\
         <title>JK Status Manager</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n",
    );
    let listing = matches!(ctx.command, Some(Command::List | Command::Show));
    let live = page.server.is_some() && listing;
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
    out.push_str("</header>\n<main class=\"wrap\">\n");
    if let Some(h) = &page.head {
        let (time, unix) = h.time.as_ref().map_or((String::new(), String::new()), |t| {
            (ctx.time(t.unix), t.unix.to_string())
        });
        let _ = writeln!(
            out,
            "<table class=\"version\"><tr><td>Server Version:</td><td>{}</td><td>&nbsp;&nbsp;&nbsp;</td>\
             <td>Server Time:</td><td>{}</td></tr>\n\
             <tr><td>JK Version:</td><td>{}</td><td></td><td>Unix Seconds:</td><td>{}</td></tr></table>",
            escape(&h.web_server),
            escape(&time),
            escape(&h.jk_version),
            unix
        );
    }
    if page.server.is_some() {
        access_notice(&mut out, ctx);
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
    match &page.body {
        Body::List {
            balancers,
            ajp_workers,
        } => {
            section(
                &mut out,
                ctx,
                balancers,
                "Load Balancing Workers",
                opt::NO_LB,
                |out, lb| balancer(out, ctx, lb, false),
            );
            section(
                &mut out,
                ctx,
                ajp_workers,
                "AJP Workers",
                opt::NO_AJP,
                |out, w| ajp(out, ctx, w, false),
            );
        }
        Body::Balancer(lb) => balancer(&mut out, ctx, lb, true),
        Body::Ajp(w) => ajp(&mut out, ctx, w, true),
        Body::Edit(form) => {
            out.push_str("<section class=\"card edit\">\n");
            edit_form(&mut out, ctx, form);
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
    match &page.outcome {
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
    if live && !ctx.params.option(opt::NO_LEGEND) {
        legend(&mut out);
    }
    let _ = writeln!(
        out,
        "<footer><a href=\"{}\">JK Status Manager Start Page</a> &middot; {} speaking the status protocol of mod_jk/{}</footer>\n</main>",
        escape(ctx.path),
        escape(&super::web_server()),
        super::MOD_JK_VERSION
    );
    if live {
        let _ = writeln!(out, "<script>\n{SCRIPT}</script>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_apr_prints_them() {
        assert_eq!(size(0), "0 ");
        assert_eq!(size(972), "972 ");
        assert_eq!(size(973), "1.0K");
        assert_eq!(size(1536), "1.5K");
        assert_eq!(size(10 * 1024), "10K");
        assert_eq!(size(5 * 1024 * 1024), "5.0M");
        assert_eq!(size(700 * 1024 * 1024), "700M");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(encode("a b/c&d"), "a%20b%2Fc%26d");
    }

    #[test]
    fn colours_of_states_and_activations() {
        assert_eq!(row_class(Activation::Active, MemberState::Ok), "ok");
        assert_eq!(row_class(Activation::Active, MemberState::Busy), "ok");
        assert_eq!(row_class(Activation::Disabled, MemberState::Idle), "dis");
        assert_eq!(row_class(Activation::Stopped, MemberState::Ok), "stp");
        assert_eq!(row_class(Activation::Disabled, MemberState::Error), "err");
        assert_eq!(row_class(Activation::Active, MemberState::Probe), "warn");
        assert_eq!(row_class(Activation::Active, MemberState::Recover), "warn");
    }
}
