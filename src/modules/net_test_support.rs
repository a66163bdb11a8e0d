//! Test helpers for the network, archive and control modules: a
//! `ModuleContext` over `LocalConnection`, and tiny bounded HTTP/TCP servers
//! on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::connection::local::LocalConnection;
use crate::connection::{ConnError, Connection, ExecOutput};
use crate::modules::{ModuleContext, ModuleFn, ModuleOutcome};
use crate::playbook::templar::Templar;

/// Runs modules on the local host with a fixed set of variables.
pub(crate) struct NetHarness {
    pub(crate) templar: Templar,
    pub(crate) vars: minijinja::Value,
    pub(crate) search_paths: Vec<PathBuf>,
    pub(crate) check_mode: bool,
    pub(crate) environment: Vec<(String, String)>,
    conn: RecordingConnection,
}

/// A local connection that remembers each command and how many bytes of
/// stdin it was given (to prove that nothing was uploaded).
#[derive(Default)]
pub(crate) struct RecordingConnection {
    inner: LocalConnection,
    pub(crate) log: Vec<(String, usize)>,
}

impl Connection for RecordingConnection {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        self.log
            .push((command.to_string(), stdin.map_or(0, <[u8]>::len)));
        self.inner.exec(command, stdin)
    }
}

impl NetHarness {
    pub(crate) fn new(vars: Value) -> NetHarness {
        let map = vars.as_object().cloned().unwrap_or_default();
        NetHarness {
            templar: Templar::new(),
            vars: Templar::context(&map),
            search_paths: Vec::new(),
            check_mode: false,
            environment: Vec::new(),
            conn: RecordingConnection::default(),
        }
    }

    /// Commands run so far, with the stdin bytes each was given.
    pub(crate) fn log(&self) -> &[(String, usize)] {
        &self.conn.log
    }

    pub(crate) fn clear_log(&mut self) {
        self.conn.log.clear();
    }

    pub(crate) fn run(&mut self, f: ModuleFn, args: Value) -> ModuleOutcome {
        let map: Map<String, Value> = args
            .as_object()
            .cloned()
            .expect("module args are a mapping");
        let mut ctx = ModuleContext {
            conn: &mut self.conn,
            check_mode: self.check_mode,
            diff_mode: false,
            escalate: None,
            environment: self.environment.clone(),
            templar: &self.templar,
            vars: &self.vars,
            search_paths: self.search_paths.clone(),
            inventory_hostname: "localhost".into(),
        };
        f(&mut ctx, &map).expect("local connection never fails")
    }
}

/// A request as the test server saw it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeenRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl SeenRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&SeenRequest) -> Reply + Send + Sync;

/// An HTTP/1.0-style server (one request per connection) that stops when
/// dropped, or by itself after 60 seconds.
pub(crate) struct HttpServer {
    pub(crate) port: u16,
    pub(crate) seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub(crate) fn start(
        handler: impl Fn(&SeenRequest) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(req) = serve_one(stream, &*handler) {
                            seen2.lock().unwrap().push(req);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpServer {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, handler: &Handler) -> Option<SeenRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let mut req = SeenRequest {
        method: first.next()?.to_string(),
        path: first.next()?.to_string(),
        ..SeenRequest::default()
    };
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some((k, v)) = line.split_once(':') {
            req.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    req.body = body;
    let reply = handler(&req);
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    let _ = stream.write_all(out.as_bytes());
    if req.method != "HEAD" {
        let _ = stream.write_all(&reply.body);
    }
    let _ = stream.flush();
    Some(req)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// A TCP server that greets each connection with `banner` and closes it;
/// stops when dropped or after 60 seconds.
pub(crate) struct TcpBanner {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpBanner {
    pub(crate) fn start(banner: &str) -> TcpBanner {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let banner = banner.as_bytes().to_vec();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(&banner);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpBanner {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TcpBanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A directory of links to every program in /usr/bin and /bin except
/// `hidden`, to stand for a target that lacks those programs.
pub(crate) fn path_without(hidden: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for bin in ["/usr/bin", "/bin"] {
        for entry in std::fs::read_dir(bin).unwrap().flatten() {
            let name = entry.file_name();
            let link = dir.path().join(&name);
            if hidden.iter().any(|h| name.to_str() == Some(h)) || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), link);
        }
    }
    let path = dir.path().to_str().unwrap().to_string();
    (dir, path)
}
