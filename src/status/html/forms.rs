//! Changes: the forms that post to the status worker with the process's token, the
//! buttons of the member rows, and the edit forms of a balancer, a member and one
//! attribute of all members.

use std::fmt::Write;

use super::{Context, escape};
use crate::balancer::MemberState;
use crate::config::values::Activation;
use crate::status::auth::TOKEN_FIELD;
use crate::status::page::EditForm;
use crate::status::view::{AjpView, LbView, MemberView};

impl Context<'_> {
    /// The start of a form that posts to the status worker with the token and the
    /// given fields.
    pub(super) fn form_open(&self, out: &mut String, class: &str, fields: &[(&str, &str)]) {
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
    pub(super) fn button(
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

/// The page of `cmd=edit`: a form for a balancer, a member or one attribute of all
/// members, or a note for an AJP worker.
pub(super) fn edit_form(out: &mut String, ctx: &Context<'_>, form: &EditForm) {
    let from = ctx.params.get("from").unwrap_or("list");
    match form {
        EditForm::Balancer(lb) => balancer_form(out, ctx, from, lb),
        EditForm::Member(lb) => member_form(out, ctx, from, lb),
        EditForm::AllMembers(lb, att) => all_members_form(out, ctx, from, lb, att),
        EditForm::Ajp(w) => ajp_settings(out, w),
    }
}

/// mod_jk's "Edit load balancer settings" form.
fn balancer_form(out: &mut String, ctx: &Context<'_>, from: &str, lb: &LbView) {
    let tf = |b: bool| if b { "True" } else { "False" };
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

/// mod_jk's "Edit worker settings" form for one member (the view holds only it).
fn member_form(out: &mut String, ctx: &Context<'_>, from: &str, lb: &LbView) {
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

/// One attribute (`att`, a `vw?` parameter) of every member, one field each.
fn all_members_form(out: &mut String, ctx: &Context<'_>, from: &str, lb: &LbView, att: &str) {
    let label = match att {
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
        match att {
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

/// A plain AJP worker has nothing to edit while jkd runs: say so.
fn ajp_settings(out: &mut String, w: &AjpView) {
    let _ = writeln!(
        out,
        "<div class=\"card-head\"><h3>Settings of {}</h3></div>\n<p class=\"pad\">jkd reads the settings of an AJP worker from \
         workers.properties at startup; they cannot be changed while it runs.</p>",
        escape(&w.name)
    );
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

/// The last cell of a member's row: activation buttons, Reset, Recover (shown by
/// the script only while the member is in error) and the Edit link.
pub(super) fn member_actions(out: &mut String, ctx: &Context<'_>, lb: &str, m: &MemberView) {
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
