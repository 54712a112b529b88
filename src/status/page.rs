//! The content of one status response, independent of its format.

use super::view::{AjpView, LbView, Stamp};

/// The server line of the machine formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub port: u16,
}

/// The time and software lines (commands list, show, version, dump).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `None` when the local time could not be computed (mod_jk then omits it).
    pub time: Option<Stamp>,
    pub web_server: String,
    pub jk_version: String,
    /// jkd's last configuration reload (SIGHUP): Unix seconds and whether it was
    /// refused; `None` before the first. Shown on the HTML page only (mod_jk's
    /// formats have no place for it).
    pub last_reload: Option<(i64, bool)>,
}

/// The balancers or the AJP workers of `cmd=list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section<T> {
    /// How many of this kind are in `worker.list` (a name listed twice counts twice).
    pub count: usize,
    /// `opt` hides the whole section.
    pub hidden: bool,
    pub items: Vec<T>,
}

impl<T> Section<T> {
    pub fn new(hidden: bool) -> Section<T> {
        Section {
            count: 0,
            hidden,
            items: Vec::new(),
        }
    }

    /// mod_jk prints a section only when it has workers and is not hidden.
    pub fn printed(&self) -> bool {
        self.count > 0 && !self.hidden
    }
}

/// What an HTML edit form is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditForm {
    /// The balancer's own settings.
    Balancer(LbView),
    /// One member (the view holds only that member).
    Member(LbView),
    /// One attribute of every member.
    AllMembers(LbView, String),
    /// A plain AJP worker's settings.
    Ajp(AjpView),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Nothing,
    List {
        balancers: Section<LbView>,
        ajp_workers: Section<AjpView>,
    },
    /// `show` of a balancer (all members, or the one named by `sw`).
    Balancer(LbView),
    /// `show` of a plain AJP worker.
    Ajp(AjpView),
    /// `edit` (HTML only).
    Edit(EditForm),
    /// `dump`: the startup configuration.
    Dump(Vec<(String, String)>),
}

/// One status response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Printed unless the request failed before the command ran, or the command
    /// changes something (update, reset, recover print only the result).
    pub server: Option<Server>,
    pub head: Option<Head>,
    pub body: Body,
    /// `Ok` prints "Action finished".
    pub outcome: Result<(), String>,
}

/// The result message of a successful request.
pub const ACTION_FINISHED: &str = "Action finished";
