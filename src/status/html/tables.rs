//! The workers' cards: a balancer's members with their state in colour, sparklines and
//! buttons, mod_jk's full member table, an AJP worker's settings and counters, and the
//! URI mappings of each.

use std::fmt::Write;

use super::forms::member_actions;
use super::{Context, escape, size};
use crate::balancer::MemberState;
use crate::config::values::Activation;
use crate::status::params::opt;
use crate::status::view::{AjpView, LbView, MapView, MemberView};

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
        member_actions(out, ctx, lb, m);
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

pub(super) fn balancer(out: &mut String, ctx: &Context<'_>, lb: &LbView, single: bool) {
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
    balancer_conf(out, ctx, lb);
    if lb.members_shown {
        members_table(out, ctx, lb, single);
    }
    maps(out, ctx, &lb.name, lb.map_count, &lb.maps);
    out.push_str("</section>\n");
}

/// The balancer's settings and summary as a strip of labelled values (each can be
/// hidden with an `opt` bit).
fn balancer_conf(out: &mut String, ctx: &Context<'_>, lb: &LbView) {
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
}

/// The members' table with their buttons, mod_jk's full table under it, and the
/// links to edit one attribute of all members.
fn members_table(out: &mut String, ctx: &Context<'_>, lb: &LbView, single: bool) {
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

pub(super) fn ajp(out: &mut String, ctx: &Context<'_>, w: &AjpView, single: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
