//! The state file (`--state-file`): what the status manager changed on balancer members (activation, lbfactor, distance, route, redirect, domain), saved as JSON and put back when jkd starts, so that a restart or an upgrade keeps a drained node drained.
//!
//! mod_jk forgets every change made in its status worker when httpd restarts;
//! operators then find a node they had drained taking traffic again. jkd keeps the
//! changes across a reload already; this file carries them across processes, by
//! the rule a reload follows: a member whose definition in the workers file (those
//! values, its host and its port) is the same as when the change was saved gets the
//! change back, one whose definition changed takes the file's values (the file was
//! edited since, and it wins). Its other connection settings are not compared.
//!
//! The balancers' own settings and the AJP settings changed in the manager are not
//! saved: they are tuning an operator would write into workers.properties.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::actions::{self, Actor};
use crate::balancer::MemberRuntime;
use crate::config::values::Activation;
use crate::config::workers;
use crate::runtime::{Live, Runtime, Target};

/// The version written in the file, read back to refuse a file of another format.
const FORMAT: u64 = 1;

/// How often the running state is compared with what was last written.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The values of a member the manager can change, as saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberValues {
    pub activation: Activation,
    pub lbfactor: i32,
    pub distance: i32,
    pub route: String,
    pub redirect: String,
    pub domain: String,
}

impl MemberValues {
    fn configured(d: &workers::Member) -> MemberValues {
        MemberValues {
            activation: d.activation,
            lbfactor: d.lbfactor,
            distance: d.distance,
            route: d.route.clone(),
            redirect: d.redirect.clone(),
            domain: d.domain.clone(),
        }
    }

    fn current(m: &MemberRuntime) -> MemberValues {
        MemberValues {
            activation: m.activation,
            lbfactor: m.lbfactor,
            distance: m.distance,
            route: m.route.clone(),
            redirect: m.redirect.clone(),
            domain: m.domain.clone(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "activation": self.activation.as_str(),
            "lbfactor": self.lbfactor,
            "distance": self.distance,
            "route": self.route,
            "redirect": self.redirect,
            "domain": self.domain,
        })
    }

    fn from_json(v: &Value) -> Option<MemberValues> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let int = |k: &str| {
            v.get(k)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        let activation = match text("activation")?.as_str() {
            "ACT" => Activation::Active,
            "DIS" => Activation::Disabled,
            "STP" => Activation::Stopped,
            _ => return None,
        };
        Some(MemberValues {
            activation,
            lbfactor: int("lbfactor")?,
            distance: int("distance")?,
            route: text("route")?,
            redirect: text("redirect")?,
            domain: text("domain")?,
        })
    }

    /// The query of a manager update that sets these values on member `sw` of `w`.
    fn as_update(&self, worker: &str, member: &str) -> String {
        // The manager reads an activation by its first letter (ACT, DIS, STP).
        format!(
            "w={}&sw={}&vwa={}&vwf={}&vwd={}&vwn={}&vwr={}&vwc={}",
            actions::encode(worker),
            actions::encode(member),
            self.activation.as_str(),
            self.lbfactor,
            self.distance,
            actions::encode(&self.route),
            actions::encode(&self.redirect),
            actions::encode(&self.domain),
        )
    }
}

/// The state file's text for `rt`: every balancer member whose values differ from
/// its definition, with both, in name order.
pub fn render(rt: &Runtime) -> String {
    let mut members = Vec::new();
    let mut names: Vec<&String> = rt.targets.keys().collect();
    names.sort();
    for name in names {
        let Some(Target::Lb(lb)) = rt.targets.get(name) else {
            continue;
        };
        for (member, live) in lb.members_with_state() {
            let configured = MemberValues::configured(&member.definition);
            let current = MemberValues::current(&live);
            if configured != current {
                members.push(json!({
                    "worker": name,
                    "member": member.name(),
                    "address": address(&member.definition),
                    "configured": configured.to_json(),
                    "current": current.to_json(),
                }));
            }
        }
    }
    let doc = json!({ "jkd_state_file": FORMAT, "members": members });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Where a member's node is: a member moved to another host or port is another
/// node, whose manager changes do not carry over.
fn address(d: &workers::Member) -> String {
    format!("{}:{}", d.ajp.host, d.ajp.port)
}

/// What [`restore`] did with each saved member, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    /// The member got its saved values back.
    Applied { worker: String, member: String },
    /// The workers file changed the member since: its values win.
    FileChanged { worker: String, member: String },
    /// No such balancer member any more.
    Gone { worker: String, member: String },
    /// The manager's rules refused a value (the reason).
    Refused {
        worker: String,
        member: String,
        why: String,
    },
}

/// Puts the saved changes of `text` back on the members of `rt`, through the
/// manager's own update (so its ranges and side effects apply).
pub fn restore(rt: &Runtime, text: &str, source: &str) -> Result<Vec<Restored>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match doc.get("jkd_state_file").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format {other}, this jkd reads {FORMAT}")),
        None => return Err("not a jkd state file (no \"jkd_state_file\")".to_string()),
    }
    let empty = Vec::new();
    let saved = doc
        .get("members")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let actor = Actor {
        status_worker: "state file",
        user: None,
        client: source,
    };
    // Every entry is read before any is applied: a damaged file changes nothing.
    let mut entries = Vec::new();
    for entry in saved {
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
        let (worker, member) = (text("worker").to_string(), text("member").to_string());
        let values = entry.get("configured").and_then(MemberValues::from_json);
        let wanted = entry.get("current").and_then(MemberValues::from_json);
        let at = entry
            .get("address")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(configured), Some(wanted), Some(at)) = (values, wanted, at) else {
            return Err(format!("the entry for {worker}/{member} is incomplete"));
        };
        entries.push((worker, member, at, configured, wanted));
    }
    let mut done = Vec::new();
    for (worker, member, at, configured, wanted) in entries {
        let found = match rt.targets.get(&worker) {
            Some(Target::Lb(lb)) => lb
                .members
                .iter()
                .position(|m| m.name() == member)
                .map(|i| (lb, i)),
            _ => None,
        };
        let Some((lb, index)) = found else {
            done.push(Restored::Gone { worker, member });
            continue;
        };
        let definition = &lb.members[index].definition;
        if MemberValues::configured(definition) != configured || address(definition) != at {
            done.push(Restored::FileChanged { worker, member });
            continue;
        }
        let params = super::params::Params::parse(Some(&wanted.as_update(&worker, &member)));
        done.push(match actions::update(rt, &params, &actor) {
            Ok(()) => Restored::Applied { worker, member },
            Err(why) => Restored::Refused {
                worker,
                member,
                why,
            },
        });
    }
    Ok(done)
}

/// Reads `path` (if it exists) and restores it on `rt`, saying what it did; a file
/// that cannot be used is a warning, never a reason not to start.
pub fn load(rt: &Runtime, path: &Path) {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "state file {shown}: none yet, it is written when the manager changes a member"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(
                "state file {shown}: cannot read it ({e}): the manager's earlier changes are not restored"
            );
            return;
        }
    };
    match restore(rt, &text, &shown) {
        Err(why) => {
            // Set aside rather than overwritten by the running state a second later:
            // the operator may want what it held (a newer jkd's file, a wrong path).
            let aside = PathBuf::from(format!("{shown}.refused"));
            let kept = match std::fs::rename(path, &aside) {
                Ok(()) => format!("it is kept as {}", aside.display()),
                Err(e) => format!("it could not be set aside ({e})"),
            };
            tracing::warn!(
                "state file {shown}: {why}: the manager's earlier changes are not restored; {kept}"
            );
        }
        Ok(done) => {
            for d in done {
                match d {
                    Restored::Applied { worker, member } => tracing::info!(
                        "state file {shown}: {worker}/{member} keeps the values set in the status manager before"
                    ),
                    Restored::FileChanged { worker, member } => tracing::info!(
                        "state file {shown}: {worker}/{member} was changed in the workers file since: its values there win over the manager's earlier changes"
                    ),
                    Restored::Gone { worker, member } => tracing::info!(
                        "state file {shown}: {worker}/{member} is no longer a balancer member: its saved changes are dropped"
                    ),
                    Restored::Refused {
                        worker,
                        member,
                        why,
                    } => tracing::warn!("state file {shown}: {worker}/{member}: {why}"),
                }
            }
        }
    }
}

/// Writes `text` to `path` whole or not at all: into a temporary file beside it,
/// then renamed over it.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    match written.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Keeps `path` equal to the running state: compared every second, written (off
/// the runtime's threads) when it changed. Runs until jkd begins to stop. The file
/// is not read again: during an upgrade, make manager changes once the old jkd has
/// been told to stop.
pub async fn keep(live: Arc<Live>, path: PathBuf) {
    let mut written: Option<String> = std::fs::read_to_string(&path).ok();
    let mut failing = false;
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let rt = live.load();
        // A jkd that is stopping leaves the file to the one that replaces it.
        if rt.draining.is_draining() {
            return;
        }
        let text = render(&rt);
        if written.as_deref() == Some(text.as_str()) {
            continue;
        }
        let (target, body) = (path.clone(), text.clone());
        let result = tokio::task::spawn_blocking(move || write_whole(&target, &body)).await;
        match result {
            Ok(Ok(())) => {
                failing = false;
                written = Some(text);
            }
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!(
                    "state file {}: cannot write it ({e}): the manager's changes would be lost on restart",
                    path.display()
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(text: &str) -> Arc<Runtime> {
        let loaded = crate::config::from_workers_bytes("t", text.as_bytes(), &|_| None);
        let config = loaded
            .config
            .unwrap_or_else(|| panic!("bad test config: {:?}", loaded.diagnostics));
        Runtime::new(config, std::time::Instant::now())
    }

    const WORKERS: &str = "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=n1,n2\n\
                           worker.n1.port=8009\nworker.n2.port=8010\n";

    fn lb(rt: &Runtime) -> &crate::runtime::LbWorker {
        match rt.targets.get("lb") {
            Some(Target::Lb(lb)) => lb,
            _ => panic!("no lb"),
        }
    }

    #[test]
    fn nothing_changed_saves_no_member() {
        let rt = runtime(WORKERS);
        let text = render(&rt);
        assert!(text.contains("\"members\": []"), "{text}");
        assert_eq!(restore(&rt, &text, "t"), Ok(vec![]));
    }

    #[test]
    fn the_managers_changes_come_back_in_a_new_process() {
        let before = runtime(WORKERS);
        lb(&before).update_member(1, |m| {
            m.activation = Activation::Disabled;
            m.route = "east.n2".to_string();
        });
        lb(&before).set_lbfactor(1, 3);
        let text = render(&before);
        assert!(
            text.contains("\"member\": \"n2\"") && !text.contains("\"n1\""),
            "{text}"
        );

        let after = runtime(WORKERS);
        let done = restore(&after, &text, "t").unwrap();
        assert_eq!(
            done,
            vec![Restored::Applied {
                worker: "lb".into(),
                member: "n2".into()
            }]
        );
        let n2 = lb(&after).snapshot_of(1).unwrap();
        assert_eq!(n2.activation, Activation::Disabled);
        assert_eq!(n2.lbfactor, 3);
        assert_eq!(n2.route, "east.n2");
        // Exactly as saved: the domain the manager would derive from the new route is
        // set back to the saved (empty) one.
        assert_eq!(n2.domain, "");
        assert_eq!(render(&after), text, "the restored state saves the same");
    }

    #[test]
    fn the_workers_file_wins_for_a_member_it_changed_and_gone_members_are_dropped() {
        let before = runtime(WORKERS);
        lb(&before).update_member(0, |m| m.activation = Activation::Stopped);
        lb(&before).update_member(1, |m| m.activation = Activation::Disabled);
        let text = render(&before);
        // n1's definition changed in the file (lbfactor), n2 left the balancer.
        let after = runtime(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=n1,n3\n\
             worker.n1.port=8009\nworker.n1.lbfactor=2\nworker.n3.port=8011\n",
        );
        let done = restore(&after, &text, "t").unwrap();
        assert_eq!(
            done,
            vec![
                Restored::FileChanged {
                    worker: "lb".into(),
                    member: "n1".into()
                },
                Restored::Gone {
                    worker: "lb".into(),
                    member: "n2".into()
                },
            ]
        );
        assert_eq!(
            lb(&after).snapshot_of(0).unwrap().activation,
            Activation::Active
        );
    }

    #[test]
    fn a_member_moved_to_another_port_is_another_node() {
        let before = runtime(WORKERS);
        lb(&before).update_member(1, |m| m.activation = Activation::Disabled);
        let text = render(&before);
        let moved = runtime(&WORKERS.replace("worker.n2.port=8010", "worker.n2.port=8020"));
        assert_eq!(
            restore(&moved, &text, "t"),
            Ok(vec![Restored::FileChanged {
                worker: "lb".into(),
                member: "n2".into()
            }])
        );
        assert_eq!(
            lb(&moved).snapshot_of(1).unwrap().activation,
            Activation::Active
        );
    }

    #[test]
    fn a_file_that_is_not_a_state_file_is_refused_whole() {
        let rt = runtime(WORKERS);
        assert!(restore(&rt, "{", "t").unwrap_err().starts_with("not JSON"));
        assert!(restore(&rt, "{\"members\": []}", "t").is_err());
        assert!(
            restore(&rt, "{\"jkd_state_file\": 9, \"members\": []}", "t")
                .unwrap_err()
                .contains("format 9")
        );
        // A good entry followed by a damaged one: neither is applied.
        let good = "{\"worker\": \"lb\", \"member\": \"n1\", \"address\": \"localhost:8009\", \"configured\": {\"activation\": \"ACT\", \"lbfactor\": 1, \"distance\": 0, \"route\": \"n1\", \"redirect\": \"\", \"domain\": \"\"}, \"current\": {\"activation\": \"STP\", \"lbfactor\": 1, \"distance\": 0, \"route\": \"n1\", \"redirect\": \"\", \"domain\": \"\"}}";
        let partial = format!(
            "{{\"jkd_state_file\": 1, \"members\": [{good}, {{\"worker\": \"lb\", \"member\": \"n2\"}}]}}"
        );
        assert!(
            restore(&rt, &partial, "t")
                .unwrap_err()
                .contains("incomplete")
        );
        assert_eq!(
            lb(&rt).snapshot_of(0).unwrap().activation,
            Activation::Active
        );
    }

    #[test]
    fn written_whole_through_a_temporary_file() {
        let dir = std::env::temp_dir().join(format!("jkd-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_whole(&path, "one\n").unwrap();
        write_whole(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
