//! A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves one
//! generated file with `Content-Length` and `Range: bytes=N-` support, and
//! can be scripted to misbehave per request; or ([`Server::folder`]) the
//! files of a folder with an HTML index of them (a `find-links` page for
//! pip and uv), each sent slowly, for installs long enough to be watched.
//! One thread per connection, at most `MAX_CONNECTIONS` at once;
//! everything stops when the server is dropped.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: usize = 16;

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Serve the file, honouring `Range`.
    Normal,
    /// Answer with this status and a short body.
    Status(u16),
    /// Send the headers (full `Content-Length`) and only the first `n` bytes
    /// of the requested body, then close.
    CloseAfter(usize),
    /// Serve the file with one byte changed.
    Tamper,
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// Serve the whole file with 200, whatever the `Range`.
    IgnoreRange,
    /// Answer 302 with this `Location`.
    Redirect(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `N` of `Range: bytes=N-`.
    pub range: Option<u64>,
    pub user_agent: Option<String>,
}

/// What the server serves.
enum Content {
    /// One file at `/file.bin`.
    One(Arc<Vec<u8>>),
    /// The files of `dir` at `/<name>`, an index of them at `/`; each
    /// file's body is sent in pieces spread over `trickle`.
    Folder { dir: PathBuf, trickle: Duration },
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `body` at `/file.bin`; any other path is a 404.
    pub fn start(body: Arc<Vec<u8>>) -> Server {
        Server::serving(Content::One(body))
    }

    /// Serves the files of `dir` (read at each request) at `/<name>` and
    /// an HTML page linking them at `/` ([`Server::base`]); each file's
    /// body takes `trickle` to arrive. The script does not apply.
    pub fn folder(dir: &Path, trickle: Duration) -> Server {
        Server::serving(Content::Folder {
            dir: dir.to_path_buf(),
            trickle,
        })
    }

    fn serving(content: Content) -> Server {
        let content = Arc::new(content);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        // Polled, so that the acceptor notices `stop` without a connection.
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || accept(listener, content, state, stop))
        };
        Server {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/file.bin", self.addr)
    }

    /// `http://127.0.0.1:PORT/`: the index of a [`Server::folder`].
    pub fn base(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Queues replies for the next requests, in order; after them, requests
    /// are served normally.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(
    listener: TcpListener,
    content: Arc<Content>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    drop(stream);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (content, state, stop, active) =
                    (content.clone(), state.clone(), stop.clone(), active.clone());
                workers.push(std::thread::spawn(move || {
                    let _ = match &*content {
                        Content::One(body) => serve(stream, body, &state, &stop),
                        Content::Folder { dir, trickle } => {
                            serve_folder(stream, dir, *trickle, &state, &stop)
                        }
                    };
                    active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn serve(
    mut stream: TcpStream,
    body: &[u8],
    state: &Mutex<State>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let head = read_head(&mut stream)?;
    let seen = parse(&head);
    let reply = {
        let mut state = state.lock().unwrap();
        state.seen.push(seen.clone());
        state.script.pop_front().unwrap_or(Reply::Normal)
    };
    if seen.path != "/file.bin" && reply == Reply::Normal {
        return respond_status(&mut stream, 404);
    }
    let range = seen.range.filter(|&start| start <= body.len() as u64);
    match reply {
        Reply::Normal => send(&mut stream, body, range, None),
        Reply::IgnoreRange => send(&mut stream, body, None, None),
        Reply::CloseAfter(n) => send(&mut stream, body, range, Some(n)),
        Reply::Tamper => {
            let mut bad = body.to_vec();
            let middle = bad.len() / 2;
            bad[middle] ^= 0xff;
            send(&mut stream, &bad, range, None)
        }
        Reply::Status(code) => respond_status(&mut stream, code),
        Reply::Redirect(location) => {
            write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            stream.flush()
        }
        Reply::Hang(how_long) => {
            let until = Instant::now() + how_long;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        }
    }
}

/// One request to a [`Server::folder`].
fn serve_folder(
    mut stream: TcpStream,
    dir: &Path,
    trickle: Duration,
    state: &Mutex<State>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let head = read_head(&mut stream)?;
    let seen = parse(&head);
    state.lock().unwrap().seen.push(seen.clone());
    let name = seen.path.trim_start_matches('/');
    if name.is_empty() {
        let mut page = String::from("<!DOCTYPE html>\n<html><body>\n");
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            page.push_str(&format!("<a href=\"{name}\">{name}</a><br>\n"));
        }
        page.push_str("</body></html>\n");
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        )?;
        return stream.flush();
    }
    let path = dir.join(name);
    let body = match std::fs::read(&path) {
        Ok(body) if !name.contains('/') && !name.contains("..") => body,
        _ => return respond_status(&mut stream, 404),
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.flush()?;
    const PIECES: usize = 10;
    let piece = body.len().div_ceil(PIECES).max(1);
    for chunk in body.chunks(piece) {
        let until = Instant::now() + trickle / PIECES as u32;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        stream.write_all(chunk)?;
        stream.flush()?;
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn parse(head: &str) -> Seen {
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let mut range = None;
    let mut user_agent = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("range") {
            range = value
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse().ok());
        } else if name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(value.to_owned());
        }
    }
    Seen {
        method,
        path,
        range,
        user_agent,
    }
}

fn respond_status(stream: &mut TcpStream, code: u16) -> std::io::Result<()> {
    let text = format!("status {code}\n");
    write!(
        stream,
        "HTTP/1.1 {code} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

/// Sends `body` from `range` (or all of it with 200), stopping after `cut`
/// bytes of the body if given.
fn send(
    stream: &mut TcpStream,
    body: &[u8],
    range: Option<u64>,
    cut: Option<usize>,
) -> std::io::Result<()> {
    let start = range.unwrap_or(0) as usize;
    let part = &body[start..];
    let mut head = match range {
        Some(_) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
            body.len().saturating_sub(1),
            body.len()
        ),
        None => "HTTP/1.1 200 OK\r\n".to_owned(),
    };
    head.push_str(&format!(
        "Content-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        part.len()
    ));
    stream.write_all(head.as_bytes())?;
    let sent = cut.map_or(part, |n| &part[..n.min(part.len())]);
    for chunk in sent.chunks(16 * 1024) {
        stream.write_all(chunk)?;
    }
    stream.flush()?;
    // A clean end of stream (not a reset), so the client sees every byte
    // sent before the cut.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
