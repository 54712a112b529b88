//! The access log: one record per request, handed off the request path to a writer thread that formats and writes it (`--access-log`, `--access-log-format`).
//!
//! A request only pushes its record onto a locked list; it never wakes the writer. The
//! writer takes the whole list every [`TICK`], formats it and writes it with one
//! system call. Waking the writer per line (a channel) cost a futex wake, a context
//! switch and a `write` per request: about half of jkd's CPU per small GET on this
//! 2-core machine (docs/benchmarks.md, "The access log's cost").

pub mod format;

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Uri, Version};

pub use format::LineFormat;

/// Records waiting for the writer; past this, new ones are dropped and counted
/// rather than making a request wait for the disk.
const QUEUE: usize = 16 * 1024;
/// How often the writer takes the waiting records and writes them out: a line is in
/// the file at most this long after its request ended.
const TICK: Duration = Duration::from_millis(50);
/// Dropped lines are reported at warn at most this often.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Whether a balancer request followed its session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sticky {
    /// Routed to the member of the session's route.
    Hit,
    /// The request had a session but went elsewhere (its route is unknown or its
    /// member unusable).
    Miss,
    /// No session, or not a balancer.
    #[default]
    None,
}

/// Everything one line may show, owned so that the writer thread can format it.
#[derive(Clone, Debug)]
pub struct Record {
    /// When the request began.
    pub start: SystemTime,
    /// The client address as forwarded to Tomcat (after trusted X-Forwarded-For).
    pub client: IpAddr,
    pub peer: SocketAddr,
    pub local_port: u16,
    pub method: Method,
    /// As received.
    pub uri: Uri,
    pub version: Version,
    /// Host (or the request-target's authority).
    pub host: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    pub referer: Option<HeaderValue>,
    /// The `X-Request-Id` sent to Tomcat.
    pub request_id: HeaderValue,
    /// The TLS protocol of an HTTPS connection.
    pub tls: Option<&'static str>,
    /// The values of the request headers the format names ([`LineFormat::request_headers`]).
    pub request_headers: Vec<Vec<HeaderValue>>,
    /// The values of the response headers the format names.
    pub response_headers: Vec<Vec<HeaderValue>>,
    pub status: u16,
    /// Request body bytes read from the client.
    pub bytes_in: u64,
    /// Response body bytes handed to the client connection.
    pub bytes_out: u64,
    /// Until the response body ended (or the client went away).
    pub duration: Duration,
    /// Until the backend's response head arrived, when a backend answered.
    pub backend: Option<Duration>,
    pub worker: Option<String>,
    pub member: Option<String>,
    pub route: Option<String>,
    pub sticky: Sticky,
    /// Members tried (0 when refused before forwarding).
    pub attempts: u32,
    /// False when the client went away before the response body ended.
    pub completed: bool,
}

impl Record {
    /// The request-target as received, without an absolute form's scheme and host.
    pub fn target(&self) -> &str {
        self.uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
    }

    pub fn protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        }
    }

    /// The host the client asked for, without its port.
    pub fn server_name(&self) -> &str {
        self.host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .map_or("-", |h| crate::config::uri::split_host_port(h).0)
    }
}

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    /// `-` is stdout, anything else a file appended to.
    pub fn parse(text: &str) -> Destination {
        if text == "-" {
            Destination::Stdout
        } else {
            Destination::File(PathBuf::from(text))
        }
    }
}

fn open_append(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// What the request side tells the writer besides records (rare: never per request).
enum Control {
    /// Wakes the writer to look at [`AccessLog::reopen_requested`].
    Wake,
    /// Write out every record submitted before this, then answer.
    Flush(mpsc::Sender<()>),
}

/// The records submitted and not yet taken by the writer. They stay in the boxes
/// the response bodies carried them in: unboxing would copy each record and free its
/// box on the request path instead of the writer's.
#[allow(clippy::vec_box)]
type Pending = Arc<parking_lot::Mutex<Vec<Box<Record>>>>;

/// The request side of the access log: shared by every runtime snapshot.
#[derive(Debug)]
pub struct AccessLog {
    pending: Pending,
    /// Dropping the last [`AccessLog`] closes it, and the writer writes out and ends.
    control: Sender<Control>,
    format: Arc<LineFormat>,
    /// Lines dropped because the writer fell behind.
    dropped: Arc<AtomicU64>,
    reopen_requested: Arc<AtomicBool>,
}

impl AccessLog {
    /// Opens the destination (an error names the path) and starts the writer thread.
    pub fn start(destination: Destination, format: LineFormat) -> Result<AccessLog, String> {
        let sink = Sink::open(&destination)?;
        let (control, requests) = mpsc::channel();
        let log = AccessLog {
            pending: Pending::default(),
            control,
            format: Arc::new(format),
            dropped: Arc::default(),
            reopen_requested: Arc::default(),
        };
        let mut writer = Writer {
            pending: log.pending.clone(),
            taken: Vec::with_capacity(1024),
            destination,
            sink,
            format: log.format.clone(),
            dropped: log.dropped.clone(),
            reopen_requested: log.reopen_requested.clone(),
            line: String::with_capacity(512),
            reported_drops: 0,
            last_drop_warning: None,
        };
        std::thread::Builder::new()
            .name("jkd-access-log".into())
            .spawn(move || writer.run(requests))
            .map_err(|e| format!("cannot start the access log writer: {e}"))?;
        Ok(log)
    }

    /// The request headers the format shows, for [`Record::request_headers`].
    pub fn format(&self) -> &LineFormat {
        &self.format
    }

    /// Lines dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Hands a record to the writer; never waits for it: when [`QUEUE`] records are
    /// already waiting the line is dropped and counted.
    pub fn submit(&self, record: Box<Record>) {
        let mut pending = self.pending.lock();
        if pending.len() < QUEUE {
            pending.push(record);
        } else {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reopens the file at the next chance (SIGUSR1, after logrotate renamed it).
    pub fn reopen(&self) {
        self.reopen_requested.store(true, Ordering::Release);
        let _ = self.control.send(Control::Wake);
    }

    /// Waits (at most `within`) until the lines queued so far are written out: jkd
    /// calls it as it exits, so that the last requests' lines are not lost.
    pub fn flush(&self, within: Duration) {
        let (done, finished) = mpsc::channel();
        if self.control.send(Control::Flush(done)).is_ok() {
            let _ = finished.recv_timeout(within);
        }
    }

    /// Values of the headers named by `names`, in order.
    pub fn capture(names: &[http::HeaderName], headers: &HeaderMap) -> Vec<Vec<HeaderValue>> {
        names
            .iter()
            .map(|n| headers.get_all(n).iter().cloned().collect())
            .collect()
    }
}

enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    File(io::BufWriter<std::fs::File>),
}

impl Sink {
    fn open(destination: &Destination) -> Result<Sink, String> {
        match destination {
            Destination::Stdout => Ok(Sink::Stdout(io::BufWriter::new(io::stdout()))),
            Destination::File(path) => open_append(path)
                .map(|f| Sink::File(io::BufWriter::with_capacity(64 * 1024, f)))
                .map_err(|e| format!("{}: cannot open the access log: {e}", path.display())),
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::File(w) => w,
        }
    }
}

/// The writer thread's state.
struct Writer {
    pending: Pending,
    /// The records being written; swapped with the pending list, so that both keep
    /// their capacity.
    #[allow(clippy::vec_box)]
    taken: Vec<Box<Record>>,
    destination: Destination,
    sink: Sink,
    format: Arc<LineFormat>,
    dropped: Arc<AtomicU64>,
    reopen_requested: Arc<AtomicBool>,
    line: String,
    reported_drops: u64,
    last_drop_warning: Option<Instant>,
}

impl Writer {
    fn run(&mut self, requests: Receiver<Control>) {
        loop {
            let request = requests.recv_timeout(TICK);
            if self.reopen_requested.swap(false, Ordering::Acquire) {
                // Lines of requests that ended before the rotation go to the old file.
                self.write_pending();
                self.reopen();
            }
            self.write_pending();
            match request {
                Ok(Control::Flush(done)) => {
                    let _ = done.send(());
                }
                Ok(Control::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.warn_about_drops();
        }
    }

    /// Formats and writes out every record submitted so far.
    fn write_pending(&mut self) {
        std::mem::swap(&mut *self.pending.lock(), &mut self.taken);
        if self.taken.is_empty() {
            return;
        }
        let mut taken = std::mem::take(&mut self.taken);
        for record in taken.drain(..) {
            self.write(&record);
        }
        self.taken = taken;
        self.flush();
    }

    fn write(&mut self, record: &Record) {
        self.line.clear();
        self.format.render(record, &mut self.line);
        if let Err(e) = self.sink.writer().write_all(self.line.as_bytes()) {
            tracing::error!("access log: cannot write: {e}");
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.sink.writer().flush() {
            tracing::error!("access log: cannot write: {e}");
        }
    }

    /// Writes out what is buffered to the old file, then opens the path again (a new
    /// file after logrotate moved the old one). A failure keeps the old file.
    fn reopen(&mut self) {
        self.flush();
        if let Destination::File(path) = &self.destination {
            match Sink::open(&self.destination) {
                Ok(sink) => {
                    self.sink = sink;
                    tracing::info!("access log reopened: {}", path.display());
                }
                Err(e) => tracing::error!("{e}; still writing to the file open before"),
            }
        }
    }

    fn warn_about_drops(&mut self) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped == self.reported_drops {
            return;
        }
        if self
            .last_drop_warning
            .is_some_and(|t| t.elapsed() < DROP_WARNING_EVERY)
        {
            return;
        }
        tracing::warn!(
            "access log: {} line(s) dropped because the writer fell behind ({dropped} since start)",
            dropped - self.reported_drops
        );
        self.reported_drops = dropped;
        self.last_drop_warning = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_opened_names_its_path() {
        let e = AccessLog::start(
            Destination::parse("/nonexistent-dir/access.log"),
            LineFormat::Json,
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent-dir/access.log"), "{e}");
    }
}
