//! A recording TCP relay for capturing real AJP exchanges: sits between a front end (jkd or mod_jk) and Tomcat on 127.0.0.1 and keeps every byte each way, per connection.
//!
//! [`Tap::start`] listens on a free 127.0.0.1 port and relays each accepted connection
//! to `upstream` with one thread per direction. Bytes are recorded *before* they are
//! forwarded, so once the front end has acted on a packet (e.g. the client got the
//! response that END_RESPONSE finished), that packet is in the record: reading it needs
//! no waiting. [`Tap::connections`] returns what was seen so far. Dropping the tap
//! closes the listener and every relayed socket and joins the threads.
//!
//! [`split_packets`] cuts a recorded byte stream into AJP packets (either direction).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// What one relayed connection carried so far.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Front end → container (magic `12 34`).
    pub to_container: Vec<u8>,
    /// Container → front end (magic `41 42`).
    pub from_container: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    connections: Mutex<Vec<Recorded>>,
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A running relay; see the module docs.
pub struct Tap {
    port: u16,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Tap {
    /// Relay connections made to [`Tap::port`] to `upstream`, recording both ways.
    pub fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let port = listener.local_addr().expect("tap address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let stop = stop.clone();
            let shared = shared.clone();
            thread::spawn(move || accept_loop(listener, upstream, &stop, &shared))
        };
        Tap {
            port,
            stop,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port to point the front end at (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every connection relayed so far, in the order they were accepted.
    pub fn connections(&self) -> Vec<Recorded> {
        self.shared
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, then close every relayed socket so the pumps end.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for s in self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = self
            .shared
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    stop: &AtomicBool,
    shared: &Arc<Shared>,
) {
    for incoming in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(front) = incoming else { continue };
        let Ok(back) = TcpStream::connect(upstream) else {
            let _ = front.shutdown(Shutdown::Both);
            continue;
        };
        let _ = front.set_nodelay(true);
        let _ = back.set_nodelay(true);
        let index = {
            let mut conns = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
            conns.push(Recorded::default());
            conns.len() - 1
        };
        let (Ok(front2), Ok(back2)) = (front.try_clone(), back.try_clone()) else {
            continue;
        };
        {
            let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
            for s in [&front, &back] {
                if let Ok(c) = s.try_clone() {
                    sockets.push(c);
                }
            }
        }
        let up = {
            let shared = shared.clone();
            thread::spawn(move || pump(front, back2, &shared, index, true))
        };
        let down = {
            let shared = shared.clone();
            thread::spawn(move || pump(back, front2, &shared, index, false))
        };
        let mut threads = shared.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.push(up);
        threads.push(down);
    }
}

/// Copy `from` to `to`, recording first; on EOF or error, half-close the other side.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, index: usize, to_container: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut conns = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
            let rec = &mut conns[index];
            let side = if to_container {
                &mut rec.to_container
            } else {
                &mut rec.from_container
            };
            side.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Cut a recorded stream into whole AJP packets (header included). A trailing partial
/// packet or a bad magic is an error.
pub fn split_packets(mut data: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(io::Error::other("partial packet header at the end"));
        }
        if data[..2] != [0x12, 0x34] && data[..2] != [0x41, 0x42] {
            return Err(io::Error::other(format!("bad magic {:02x?}", &data[..2])));
        }
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        if data.len() < 4 + len {
            return Err(io::Error::other("partial packet at the end"));
        }
        out.push(data[..4 + len].to_vec());
        data = &data[4 + len..];
    }
    Ok(out)
}
