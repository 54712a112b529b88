//! The HTML page of the status worker: a plain XHTML rendering of the same content (version table, balancers with their members, AJP workers, URI maps, edit forms), with everything from the configuration or the request escaped.

use std::fmt::Write;

use super::clock;
use super::page::{Body, EditForm, Page, Section};
use super::params::{Command, Params, opt};
use super::view::{AjpView, LbView, MapView, MemberView};
use crate::balancer::MemberState;
use crate::config::values::Activation;
use crate::config::workers::StatusSettings;

/// What the HTML page needs beyond the content.
pub struct Context<'a> {
    pub settings: &'a StatusSettings,
    pub params: &'a Params,
    /// The request path, which every link and form points to.
    pub path: &'a str,
    pub command: Option<Command>,
    pub read_only: bool,
    pub server_name: &'a str,
    pub server_port: u16,
    /// An update, reset or recover succeeded: the page sends the browser back.
    pub action_done: bool,
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

impl Context<'_> {
    /// A link back to this status worker with the given parameters and the current
    /// `opt` (changed by `add`/`remove`).
    fn href(&self, pairs: &[(&str, &str)], add: u32, remove: u32) -> String {
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
            escape(self.path)
        } else {
            escape(&format!("{}?{}", self.path, query.join("&")))
        }
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
    /// to the worker when the change came from its page.
    fn back_after_action(&self) -> String {
        let w = self.params.get("w").unwrap_or_default();
        match self.params.get("from") {
            Some("show") => self.href(&[("cmd", "show"), ("w", w)], 0, 0),
            _ => self.href(&[("cmd", "list")], 0, 0),
        }
    }

    /// `[S|E|R|T]` for a balancer, a member or a plain worker.
    fn worker_links(&self, w: &str, sw: &str, show: bool, recover: bool) -> String {
        let from = self.command_name();
        let mut links = Vec::new();
        if show {
            links.push(self.link("S", &[("cmd", "show"), ("w", w), ("sw", sw)]));
        } else {
            links.push("S".to_string());
        }
        if !self.read_only {
            links.push(self.link(
                "E",
                &[("cmd", "edit"), ("from", from), ("w", w), ("sw", sw)],
            ));
            links.push(self.link(
                "R",
                &[("cmd", "reset"), ("from", from), ("w", w), ("sw", sw)],
            ));
            if recover {
                links.push(self.link(
                    "T",
                    &[("cmd", "recover"), ("from", from), ("w", w), ("sw", sw)],
                ));
            }
        }
        format!("[{}]", links.join("|"))
    }

    fn time(&self, unix: i64) -> String {
        clock::html(unix).unwrap_or_else(|| unix.to_string())
    }
}

fn cells(out: &mut String, values: &[String]) {
    out.push_str("<tr>");
    for v in values {
        let _ = write!(out, "<td>{v}</td>");
    }
    out.push_str("</tr>\n");
}

fn header(out: &mut String, names: &[&str]) {
    out.push_str("<tr valign=\"bottom\">");
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

fn maps(out: &mut String, ctx: &Context<'_>, worker: &str, count: usize, list: &[MapView]) {
    if ctx.params.option(opt::NO_MAPS) {
        return;
    }
    if count == 0 {
        let _ = writeln!(
            out,
            "<hr/><h3>Warning: No URI Mappings defined for {} !</h3>",
            escape(worker)
        );
        return;
    }
    let _ = writeln!(
        out,
        "<hr/><h3>URI Mappings for {} ({count} maps)</h3><table>",
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
    out.push_str("</table>\n");
}

fn member_row(out: &mut String, ctx: &Context<'_>, lb: &str, m: &MemberView, single: bool) {
    let links = ctx.worker_links(lb, &m.name, !single, m.state == MemberState::Error);
    let error = m
        .error
        .as_ref()
        .map_or("&nbsp;".to_string(), |e| escape(&ctx.time(e.stamp.unix)));
    cells(
        out,
        &[
            format!("{links}&nbsp;"),
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

fn balancer(out: &mut String, ctx: &Context<'_>, lb: &LbView, single: bool) {
    let _ = writeln!(
        out,
        "<hr/><h3>{}&nbsp;&nbsp;Worker Status for {}</h3>",
        ctx.worker_links(&lb.name, "", !single, false),
        escape(&lb.name)
    );
    if !ctx.params.option(opt::NO_LB_CONF) {
        out.push_str("<table>");
        header(
            out,
            &[
                "Type",
                "Sticky Sessions",
                "Force Sticky Sessions",
                "Retries",
                "LB Method",
                "Locking",
                "Recover Wait Time",
                "Error Escalation Time",
                "Max Reply Timeouts",
            ],
        );
        let tf = |b: bool| if b { "True" } else { "False" }.to_string();
        cells(
            out,
            &[
                "lb".into(),
                tf(lb.sticky_session),
                tf(lb.sticky_session_force),
                lb.retries.to_string(),
                lb.method.into(),
                lb.lock.into(),
                lb.recover_time.to_string(),
                lb.error_escalation_time.to_string(),
                lb.max_reply_timeouts.to_string(),
            ],
        );
        out.push_str("</table>\n<br/>\n");
    }
    if !ctx.params.option(opt::NO_LB_SUMMARY) {
        out.push_str("<table>");
        header(
            out,
            &[
                "Good",
                "Degraded",
                "Bad/Stopped",
                "Busy",
                "Max Busy",
                "Next Maintenance",
                "Last Reset",
            ],
        );
        cells(
            out,
            &[
                lb.good.to_string(),
                lb.degraded.to_string(),
                lb.bad.to_string(),
                lb.busy.to_string(),
                lb.max_busy.to_string(),
                format!(
                    "{}/{}",
                    lb.time_to_maintenance_min, lb.time_to_maintenance_max
                ),
                lb.last_reset_ago.to_string(),
            ],
        );
        out.push_str("</table>\n");
    }
    if lb.members_shown {
        out.push_str("<h4>Balancer Members</h4>\n<table>");
        header(
            out,
            &[
                "&nbsp;", "Name", "Act", "State", "D", "F", "M", "V", "Acc", "Sess", "Err", "CE",
                "RE", "Wr", "Rd", "Busy", "MaxBusy", "Con", "MaxCon", "Route", "RR", "Cd", "Rs",
                "LR", "LE",
            ],
        );
        for m in &lb.members {
            member_row(out, ctx, &lb.name, m, single && lb.members.len() == 1);
        }
        out.push_str("</table>\n");
        if !ctx.read_only {
            let _ = writeln!(
                out,
                "<p>Edit one attribute of all members: {}</p>",
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
                .join(" | ")
            );
        }
    }
    maps(out, ctx, &lb.name, lb.map_count, &lb.maps);
}

fn ajp(out: &mut String, ctx: &Context<'_>, w: &AjpView, single: bool) {
    let _ = writeln!(
        out,
        "<hr/><h3>{}&nbsp;&nbsp;Worker Status for {}</h3>",
        ctx.worker_links(&w.name, "", !single, false),
        escape(&w.name)
    );
    if !ctx.params.option(opt::NO_AJP_CONF) {
        out.push_str("<table>");
        header(
            out,
            &[
                "Type",
                "Hostname",
                "Address:Port",
                "Source",
                "Connection Pool Timeout",
                "Connect Timeout",
                "Prepost Timeout",
                "Reply Timeout",
                "Retries",
                "Recovery Options",
                "Busy Limit",
                "Max Packet Size",
            ],
        );
        let c = &w.conf;
        cells(
            out,
            &[
                c.type_name.into(),
                escape(&c.host),
                escape(&c.address),
                escape(&c.source),
                c.connection_pool_timeout.to_string(),
                c.connect_timeout.to_string(),
                c.prepost_timeout.to_string(),
                c.reply_timeout.to_string(),
                c.retries.to_string(),
                c.recovery_options.to_string(),
                c.busy_limit.to_string(),
                c.max_packet_size.to_string(),
            ],
        );
        out.push_str("</table>\n<br/>\n");
    }
    out.push_str("<table>");
    header(
        out,
        &[
            "Acc", "Err", "CE", "RE", "Wr", "Rd", "Busy", "MaxBusy", "Con", "MaxCon", "LR", "LE",
        ],
    );
    let t = &w.traffic;
    cells(
        out,
        &[
            t.requests.to_string(),
            t.errors.to_string(),
            t.client_errors.to_string(),
            t.reply_timeouts.to_string(),
            size(t.transferred),
            size(t.read),
            t.busy.to_string(),
            t.max_busy.to_string(),
            t.connected.to_string(),
            t.max_connected.to_string(),
            w.last_reset_ago.to_string(),
            "&nbsp;".into(),
        ],
    );
    out.push_str("</table>\n");
    maps(out, ctx, &w.name, w.map_count, &w.maps);
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
            "<p><a href=\"{}\">Show {what}</a></p>",
            ctx.href(&[("cmd", "list")], 0, bit)
        );
        return;
    }
    let plural = if s.count > 1 { "s" } else { "" };
    let _ = writeln!(
        out,
        "<hr/><h2>Listing {what} ({} Worker{plural})</h2>",
        s.count
    );
    for item in &s.items {
        each(out, item);
    }
}

fn form_start(out: &mut String, ctx: &Context<'_>, hidden: &[(&str, &str)]) {
    let _ = writeln!(out, "<form method=\"get\" action=\"{}\">", escape(ctx.path));
    for (name, value) in hidden {
        let _ = writeln!(
            out,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\"/>",
            escape(value)
        );
    }
    let options = ctx.params.options();
    if options != 0 {
        let _ = writeln!(
            out,
            "<input type=\"hidden\" name=\"opt\" value=\"{options}\"/>"
        );
    }
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
                "<hr/><h3>Edit load balancer settings for {}</h3>",
                escape(&lb.name)
            );
            form_start(
                out,
                ctx,
                &[("cmd", "update"), ("from", from), ("w", &lb.name)],
            );
            out.push_str("<table>\n");
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
                "<hr/><h3>Edit worker settings for {} of {}</h3>",
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
            out.push_str("<table>\n");
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
                "<p>The connection settings of a worker (host, port, timeouts, retries, \
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
                        "<p>jkd cannot change '{}' of the members while running.</p>",
                        escape(att)
                    );
                    return;
                }
            };
            let _ = writeln!(
                out,
                "<hr/><h3>Edit {label} for all members of {}</h3>",
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
            out.push_str("<table>\n");
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
                "<hr/><h3>Settings of {}</h3>\n<p>jkd reads the settings of an AJP worker from \
                 workers.properties at startup; they cannot be changed while it runs.</p>",
                escape(&w.name)
            );
        }
    }
}

fn legend(out: &mut String) {
    out.push_str(
        "<h2>Legend</h2>\n<table>\n\
         <tr><th>Act</th><td>Activation: ACT active, DIS disabled (only sticky requests), STP stopped</td></tr>\n\
         <tr><th>State</th><td>OK, OK/IDLE (no request since the last maintenance), OK/BUSY (no free connection), \
         ERR, ERR/REC (to be tried again), ERR/PRB (being tried), ERR/FRC (tried because every member failed)</td></tr>\n\
         <tr><th>D / F / M / V</th><td>Distance, load factor, load multiplier, load value</td></tr>\n\
         <tr><th>Acc / Sess / Err / CE / RE</th><td>Requests, new sessions, errors, client errors, reply timeouts</td></tr>\n\
         <tr><th>Wr / Rd</th><td>Bytes sent to and read from the backend</td></tr>\n\
         <tr><th>Busy / Con</th><td>Requests in flight and open backend connections (now / at most)</td></tr>\n\
         <tr><th>RR / Cd</th><td>Redirect route, cluster domain</td></tr>\n\
         <tr><th>Rs / LR / LE</th><td>Seconds until recovery (min/max), seconds since the last reset, time of the last error</td></tr>\n\
         </table>\n",
    );
}

/// The HTML page.
pub fn render(page: &Page, ctx: &Context<'_>) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
         \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\"><head>\
         <title>JK Status Manager</title>\n\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/>\n",
    );
    let listing = matches!(ctx.command, Some(Command::List | Command::Show));
    let refresh = ctx.params.int("re", 0);
    if page.server.is_some() && listing && refresh > 0 {
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
            ctx.back_after_action()
        );
    }
    if let Some(css) = &ctx.settings.css {
        let _ = writeln!(
            out,
            "<link rel=\"stylesheet\" type=\"text/css\" href=\"{}\"/>",
            escape(css)
        );
    }
    out.push_str("</head>\n<body>\n");
    let _ = writeln!(
        out,
        "<h1>JK Status Manager for {}:{}{}</h1>",
        escape(ctx.server_name),
        ctx.server_port,
        if ctx.read_only { " (read only)" } else { "" }
    );
    if let Some(h) = &page.head {
        let (time, unix) = h.time.as_ref().map_or((String::new(), String::new()), |t| {
            (ctx.time(t.unix), t.unix.to_string())
        });
        let _ = writeln!(
            out,
            "<table><tr><td>Server Version:</td><td>{}</td><td>&nbsp;&nbsp;&nbsp;</td>\
             <td>Server Time:</td><td>{}</td></tr>\n\
             <tr><td>JK Version:</td><td>{}</td><td></td><td>Unix Seconds:</td><td>{}</td></tr></table>\n<hr/>",
            escape(&h.web_server),
            escape(&time),
            escape(&h.jk_version),
            unix
        );
    }
    if page.server.is_some() {
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
            if !ctx.settings.read_only {
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
        let _ = writeln!(out, "<p>[{}]</p>", nav.join("]&nbsp;&nbsp;["));
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
        Body::Edit(form) => edit_form(&mut out, ctx, form),
        Body::Dump(entries) => {
            out.push_str(
                "<hr/><h2>Configuration Data</h2>\n<p>As read at startup; changes made \
                 here since are not included.</p>\n<pre>\n",
            );
            for (k, v) in entries {
                let _ = writeln!(out, "{}={}", escape(k), escape(v));
            }
            out.push_str("</pre>\n");
        }
        Body::Nothing => {}
    }
    if page.server.is_some() && listing && !ctx.params.option(opt::NO_LEGEND) {
        legend(&mut out);
    }
    match &page.outcome {
        Err(message) => {
            let _ = writeln!(out, "<p><b>Result: ERROR - {}</b></p>", escape(message));
        }
        Ok(()) if ctx.action_done => {
            out.push_str("<p><b>Result: OK - You will be redirected in 3 seconds.</b></p>\n");
        }
        Ok(()) => {}
    }
    let _ = writeln!(
        out,
        "<p><a href=\"{}\">JK Status Manager Start Page</a></p>",
        escape(ctx.path)
    );
    let _ = writeln!(
        out,
        "<hr/><p align=\"center\"><small>{} speaking the status protocol of mod_jk/{}</small></p>\n</body>\n</html>",
        escape(&super::web_server()),
        super::MOD_JK_VERSION
    );
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
}
