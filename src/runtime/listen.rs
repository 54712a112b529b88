//! Listening sockets: TCP bound with SO_REUSEPORT and unix sockets swapped in by rename (so a new jkd can start on the same addresses while the old one drains), and accepting without spinning or giving up when accept fails.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// The kernel's queue of connections not yet accepted (tokio's default).
const BACKLOG: u32 = 1024;

/// Binds `addr` (`host:port`) with SO_REUSEADDR and SO_REUSEPORT: during an upgrade
/// the new process binds the same address while the old one still serves, and the
/// kernel hands new connections to both until the old one stops accepting.
pub async fn bind_reusable(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for resolved in tokio::net::lookup_host(addr).await? {
        let socket = if resolved.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        match socket.bind(resolved) {
            Ok(()) => return socket.listen(BACKLOG),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing")
    }))
}

/// The prefix of a unix socket listen address: `unix:/run/jkd/http.sock`.
pub const UNIX_PREFIX: &str = "unix:";

/// The socket path of a `unix:PATH` listen address.
pub fn unix_path(addr: &str) -> Option<&Path> {
    addr.trim()
        .strip_prefix(UNIX_PREFIX)
        .filter(|p| !p.is_empty())
        .map(Path::new)
}

/// Who may connect to a unix socket: its file's mode and owner (`--unix-socket-mode`,
/// `--unix-socket-owner`); `None` leaves what the umask and jkd's user give.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnixPermissions {
    pub mode: Option<u32>,
    pub user: Option<u32>,
    pub group: Option<u32>,
}

impl UnixPermissions {
    /// Parses `USER[:GROUP]` (names or numeric ids; `:GROUP` alone keeps the user).
    pub fn parse_owner(text: &str) -> Result<(Option<u32>, Option<u32>), String> {
        let (user, group) = match text.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (text, None),
        };
        let user = match user {
            "" => None,
            u => Some(user_id(u)?),
        };
        let group = match group {
            None | Some("") => None,
            Some(g) => Some(group_id(g)?),
        };
        if user.is_none() && group.is_none() {
            return Err(format!("'{text}' names no user or group (USER[:GROUP])"));
        }
        Ok((user, group))
    }

    /// Parses an octal mode such as `660` or `0660`.
    pub fn parse_mode(text: &str) -> Result<u32, String> {
        match u32::from_str_radix(text, 8) {
            Ok(m) if m <= 0o777 => Ok(m),
            _ => Err(format!(
                "'{text}' is not a file mode (octal, 000 to 777, such as 660)"
            )),
        }
    }
}

fn user_id(name: &str) -> Result<u32, String> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("no user '{name}' on this system")),
        Err(e) => Err(format!("cannot look up user '{name}': {e}")),
    }
}

fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("no group '{name}' on this system")),
        Err(e) => Err(format!("cannot look up group '{name}': {e}")),
    }
}

/// A listening unix socket. Its file is removed when it is dropped (a stop), unless
/// another process has put its own socket at the path meanwhile (an upgrade).
#[derive(Debug)]
pub struct UnixListening {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's inode, to tell it from a successor's.
    inode: u64,
}

impl UnixListening {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixListening {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a unix socket at `path`: under a temporary name first, given its mode and
/// owner, then renamed over `path`. The rename is atomic, so clients always find a
/// socket there, and a new jkd takes over the path from a running one (which keeps
/// serving the connections it has) as SO_REUSEPORT allows for TCP. A file at `path`
/// that is not a socket is not replaced.
pub fn bind_unix(path: &Path, permissions: UnixPermissions) -> io::Result<UnixListening> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type())
    {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way",
        ));
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)?;
    let prepared = (|| {
        if let Some(mode) = permissions.mode {
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))?;
        }
        if permissions.user.is_some() || permissions.group.is_some() {
            std::os::unix::fs::chown(&temporary, permissions.user, permissions.group)?;
        }
        std::fs::rename(&temporary, path)?;
        std::fs::symlink_metadata(path)
    })();
    match prepared {
        Ok(meta) => Ok(UnixListening {
            listener,
            path: path.to_path_buf(),
            inode: meta.ino(),
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

/// A bound listening socket of either kind.
#[derive(Debug)]
pub enum Bound {
    Tcp(TcpListener),
    Unix(UnixListening),
}

impl Bound {
    /// Binds `addr`: `unix:PATH` or a TCP address (see [`bind_reusable`]).
    pub async fn bind(addr: &str, permissions: UnixPermissions) -> io::Result<Bound> {
        match unix_path(addr) {
            Some(path) => bind_unix(path, permissions).map(Bound::Unix),
            None => bind_reusable(addr).await.map(Bound::Tcp),
        }
    }

    /// Where clients reach it, for the log: `127.0.0.1:8080`, `unix:/run/jkd.sock`.
    pub fn shown(&self, fallback: &str) -> String {
        match self {
            Bound::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| fallback.to_string()),
            Bound::Unix(u) => format!("{UNIX_PREFIX}{}", u.path.display()),
        }
    }

    /// Accepts the next connection, with the backoff of [`accept_with_backoff`].
    pub async fn accept(&self, failures: &mut u32) -> Accepted {
        match self {
            Bound::Tcp(l) => {
                let (stream, peer) = accept_with_backoff(l, failures).await;
                Accepted::Tcp(stream, peer)
            }
            Bound::Unix(u) => loop {
                match u.listener.accept().await {
                    Ok((stream, _)) => {
                        *failures = 0;
                        return Accepted::Unix(stream);
                    }
                    Err(e) => backoff(failures, &e).await,
                }
            },
        }
    }
}

/// A connection just accepted.
#[derive(Debug)]
pub enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

/// Accepts the next connection. An accept error (no file descriptors left, no
/// memory for the socket, ...) is logged and retried after a pause that doubles up
/// to a second, so the loop neither spins nor gives up: it recovers as soon as
/// descriptors are free again. `failures` carries the backoff between calls.
pub async fn accept_with_backoff(
    listener: &TcpListener,
    failures: &mut u32,
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(x) => {
                *failures = 0;
                return x;
            }
            Err(e) => backoff(failures, &e).await,
        }
    }
}

/// Waits after the `failures`-th accept error in a row, logging the first and then
/// every power of two.
async fn backoff(failures: &mut u32, e: &io::Error) {
    *failures = failures.saturating_add(1);
    let pause = Duration::from_millis(10u64 << (*failures).min(7)).min(MAX_ACCEPT_PAUSE);
    if *failures == 1 || failures.is_power_of_two() {
        tracing::warn!(
            failures = *failures,
            "accept failed: {e}; retrying in {} ms",
            pause.as_millis()
        );
    }
    tokio::time::sleep(pause).await;
}

/// The longest pause between two accept attempts after errors.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_and_their_settings_parse() {
        assert_eq!(
            unix_path("unix:/run/jkd.sock"),
            Some(Path::new("/run/jkd.sock"))
        );
        assert_eq!(unix_path("unix:"), None);
        assert_eq!(unix_path("127.0.0.1:80"), None);
        assert_eq!(UnixPermissions::parse_mode("660"), Ok(0o660));
        assert_eq!(UnixPermissions::parse_mode("0600"), Ok(0o600));
        assert!(UnixPermissions::parse_mode("800").is_err());
        assert!(UnixPermissions::parse_mode("1777").is_err());
        assert_eq!(UnixPermissions::parse_owner("0:0"), Ok((Some(0), Some(0))));
        assert_eq!(UnixPermissions::parse_owner("root"), Ok((Some(0), None)));
        assert_eq!(UnixPermissions::parse_owner(":0"), Ok((None, Some(0))));
        assert!(UnixPermissions::parse_owner(":").is_err());
        assert!(UnixPermissions::parse_owner("no-such-user-jkd").is_err());
    }

    #[tokio::test]
    async fn a_unix_socket_gets_its_mode_replaces_a_stale_socket_and_leaves_other_files() {
        let dir = std::env::temp_dir().join(format!("jkd-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let permissions = UnixPermissions {
            mode: Some(0o640),
            ..Default::default()
        };
        let first = bind_unix(&path, permissions).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A second one takes the path over; dropping the first leaves the second's.
        let second = bind_unix(&path, UnixPermissions::default()).unwrap();
        drop(first);
        assert!(path.exists());
        UnixStream::connect(&path).await.unwrap();
        drop(second);
        assert!(!path.exists());
        // A regular file in the way is not replaced.
        std::fs::write(&path, b"data").unwrap();
        assert!(bind_unix(&path, UnixPermissions::default()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
