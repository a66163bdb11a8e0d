//! The mirror's HTTP server (`berth testbed serve`, started detached by
//! `up`): static files under one directory, GET and HEAD, keep-alive so
//! apt's pipelined requests are answered in order, a bounded worker pool.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WORKERS: usize = 16;
const IDLE: Duration = Duration::from_secs(30);

pub(crate) struct MirrorServer {
    root: PathBuf,
    listener: TcpListener,
}

impl MirrorServer {
    pub(crate) fn bind(root: &Path, listen: &str) -> Result<MirrorServer, String> {
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        Ok(MirrorServer {
            root: root.to_path_buf(),
            listener,
        })
    }

    #[cfg(test)]
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// Serve forever with WORKERS threads; connections beyond that wait in the queue.
    pub(crate) fn serve(self) -> ! {
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(256);
        let rx = Arc::new(Mutex::new(rx));
        let root = Arc::new(self.root);
        for _ in 0..WORKERS {
            let rx = Arc::clone(&rx);
            let root = Arc::clone(&root);
            std::thread::spawn(move || loop {
                let stream = match rx.lock() {
                    Ok(guard) => match guard.recv() {
                        Ok(s) => s,
                        Err(_) => return,
                    },
                    Err(_) => return,
                };
                let _ = handle(stream, &root);
            });
        }
        for stream in self.listener.incoming().flatten() {
            let _ = tx.send(stream);
        }
        std::process::exit(1)
    }
}

fn handle(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut close = false;
        let mut http10 = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let h = header.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let parts: Vec<&str> = request.split_whitespace().collect();
        if parts.len() != 3 {
            respond(&mut out, 400, "Bad Request", None, true)?;
            return Ok(());
        }
        if parts[2] == "HTTP/1.0" {
            http10 = true;
        }
        let close = close || http10;
        let head = parts[0] == "HEAD";
        if parts[0] != "GET" && !head {
            respond(&mut out, 405, "Method Not Allowed", None, close)?;
        } else {
            match resolve(root, parts[1]) {
                Some(path) => match std::fs::File::open(&path) {
                    Ok(mut file) => {
                        let len = file.metadata()?.len();
                        write!(
                            out,
                            "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\n{}\r\n",
                            if close { "Connection: close\r\n" } else { "" }
                        )?;
                        if !head {
                            std::io::copy(&mut (&mut file).take(len), &mut out)?;
                        }
                        out.flush()?;
                    }
                    Err(_) => respond(&mut out, 404, "Not Found", None, close)?,
                },
                None => respond(&mut out, 404, "Not Found", None, close)?,
            }
        }
        if close {
            return Ok(());
        }
    }
}

fn respond(
    out: &mut TcpStream,
    code: u16,
    reason: &str,
    body: Option<&str>,
    close: bool,
) -> std::io::Result<()> {
    let body = body.unwrap_or(reason);
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )?;
    out.flush()
}

/// Map a request path to a regular file under `root`; anything that would
/// leave it (`..`, absolute tricks) or names a directory is refused.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for comp in Path::new(&decoded).components() {
        match comp {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    out.is_file().then_some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_files_pipelined_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bun")).unwrap();
        std::fs::write(dir.path().join("Packages"), "Package: caddy\n").unwrap();
        std::fs::write(dir.path().join("bun/bun linux"), "BIN").unwrap();
        let server = MirrorServer::bind(dir.path(), "127.0.0.1:0").unwrap();
        let addr = server.local_addr();
        std::thread::spawn(move || server.serve());
        // Two pipelined requests on one connection, answered in order.
        let out = get(addr, "GET /Packages HTTP/1.1\r\nHost: x\r\n\r\nGET /bun/bun%20linux HTTP/1.1\r\nConnection: close\r\n\r\n");
        let first = out.find("Package: caddy").unwrap();
        let second = out.find("BIN").unwrap();
        assert!(first < second, "{out}");
        assert_eq!(out.matches("200 OK").count(), 2, "{out}");
        assert!(get(addr, "GET /../etc/passwd HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "GET /bun HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404"));
        let head = get(addr, "HEAD /Packages HTTP/1.0\r\n\r\n");
        assert!(
            head.contains("Content-Length: 15") && !head.contains("caddy"),
            "{head}"
        );
    }
}
