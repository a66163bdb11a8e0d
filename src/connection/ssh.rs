//! SSH connections over libssh2 (the ssh2 crate).
//!
//! One `ssh2::Session` per host, opened once (TCP with a timeout, handshake,
//! host key check, public key authentication) and reused for every command:
//! a command is one `session` channel with an `exec` request, no pty and no
//! environment requests, so a no-op task costs the channel open + exec round
//! trips and nothing more. The session runs non-blocking; one poll loop
//! writes stdin and reads stdout and stderr together, so neither side can
//! fill a window and wait for the other.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Channel, ErrorCode, MethodType, Session};

pub(crate) use super::known_hosts::HostKeyChecking;
use super::known_hosts::{self, KnownHosts};
use super::{ConnError, Connection, ExecOutput};

/// Receive window of a command's channel.
const WINDOW: u32 = 2 * 1024 * 1024;
/// Largest packet we accept on a channel (libssh2's maximum).
const PACKET: u32 = 32 * 1024;
/// Seconds between keepalive requests while a session waits on a host.
const KEEPALIVE_SECS: u32 = 15;
/// stdin is handed to libssh2 in slices of this size.
const STDIN_SLICE: usize = 256 * 1024;

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const LIBSSH2_EAGAIN: i32 = -37;
/// libssh2 errors that mean the transport itself failed, not the credentials.
const TRANSPORT_ERRORS: &[i32] = &[
    -7,  // SOCKET_SEND
    -9,  // TIMEOUT
    -13, // SOCKET_DISCONNECT
    -30, // SOCKET_TIMEOUT
    -43, // SOCKET_RECV
];

/// Everything needed to open an SSH connection to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// `--private-key` / `ansible_ssh_private_key_file`; tried before the agent.
    pub(crate) private_key: Option<PathBuf>,
    pub(crate) known_hosts: PathBuf,
    pub(crate) host_key_checking: HostKeyChecking,
    /// Bounds the TCP connect (per address) and each handshake/auth step.
    pub(crate) connect_timeout: Duration,
    /// Bounds one command from channel open to exit status.
    pub(crate) command_timeout: Option<Duration>,
}

impl SshOptions {
    /// Options with Ansible's defaults: `~/.ssh/known_hosts`, strict host key
    /// checking, a 10 s connect timeout, no command timeout.
    pub(crate) fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> SshOptions {
        SshOptions {
            host: host.into(),
            port,
            user: user.into(),
            private_key: None,
            known_hosts: known_hosts::default_known_hosts(),
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
        }
    }

    /// `user@host:port`, as messages name a connection.
    pub(crate) fn target(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// An authenticated SSH session to one host.
pub(crate) struct SshConnection {
    session: Session,
    /// The session's socket (a clone of the descriptor libssh2 uses), polled
    /// while libssh2 would block.
    socket: TcpStream,
    target: String,
    command_timeout: Option<Duration>,
}

/// Why an operation on an open session stopped.
enum Stop {
    Timeout,
    Transport(String),
}

impl SshConnection {
    /// Connects, checks the host key and authenticates.
    pub(crate) fn connect(opts: &SshOptions) -> Result<SshConnection, ConnError> {
        let started = Instant::now();
        let conn = SshConnection::connect_once(opts)?;
        super::trace::connected(
            &conn.target,
            || {
                format!(
                "ssh {}@{}:{} key {} known_hosts {} host key checking {:?}, connect timeout {}, command timeout {}",
                opts.user,
                opts.host,
                opts.port,
                opts.private_key.as_ref().map_or("(agent)".to_string(), |k| k.display().to_string()),
                opts.known_hosts.display(),
                opts.host_key_checking,
                secs(opts.connect_timeout),
                opts.command_timeout.map_or("none".to_string(), secs),
            )
            },
            started.elapsed(),
        );
        Ok(conn)
    }

    fn connect_once(opts: &SshOptions) -> Result<SshConnection, ConnError> {
        let target = opts.target();
        let socket = tcp_connect(opts, &target)?;
        let lib_socket = socket
            .try_clone()
            .map_err(|e| ConnError::Unreachable(format!("{target}: cannot use the socket: {e}")))?;
        let mut session = Session::new().map_err(|e| {
            ConnError::Unreachable(format!("{target}: cannot start an SSH session: {e}"))
        })?;
        session.set_tcp_stream(lib_socket);
        session.set_blocking(true);
        session.set_timeout(millis(opts.connect_timeout));

        let file = match opts.host_key_checking {
            HostKeyChecking::Off => None,
            _ => Some(
                KnownHosts::read(&opts.known_hosts)
                    .map_err(|e| ConnError::Unreachable(format!("{target}: {e}")))?,
            ),
        };
        if let Some(file) = &file {
            let known =
                file.key_types_for(&session, &known_hosts::entry_name(&opts.host, opts.port));
            if let Some(pref) = known_hosts::hostkey_preference(&session, &known) {
                session
                    .method_pref(MethodType::HostKey, &pref)
                    .map_err(|e| {
                        ConnError::Unreachable(format!(
                            "{target}: cannot set host key preference: {e}"
                        ))
                    })?;
            }
        }

        session.handshake().map_err(|e| {
            let why = if code(&e) == -9 {
                format!(
                    "no SSH greeting within {} (is sshd running there?)",
                    secs(opts.connect_timeout)
                )
            } else {
                e.message().to_string()
            };
            ConnError::Unreachable(format!("{target}: SSH handshake failed: {why}"))
        })?;

        if let Some(file) = &file {
            known_hosts::verify(
                &session,
                file,
                &opts.host,
                opts.port,
                opts.host_key_checking,
                &target,
            )
            .map_err(ConnError::Unreachable)?;
        }
        authenticate(&session, opts, &target)?;

        session.set_keepalive(true, KEEPALIVE_SECS);
        session.set_blocking(false);
        Ok(SshConnection {
            session,
            socket,
            target,
            command_timeout: opts.command_timeout,
        })
    }

    /// Runs an operation that may say "would block", waiting on the socket
    /// until it completes.
    fn io<T>(
        &self,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, Stop> {
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if code(&e) == LIBSSH2_EAGAIN => {
                    let dirs = self.session.block_directions();
                    self.wait(deadline, wants_out(dirs))?;
                }
                Err(e) => return Err(Stop::Transport(e.message().to_string())),
            }
        }
    }

    /// Waits until the socket is readable (and writable when `outbound`),
    /// the deadline passes, or a keepalive is due.
    fn wait(&self, deadline: Option<Instant>, outbound: bool) -> Result<(), Stop> {
        let keepalive = Duration::from_secs(u64::from(KEEPALIVE_SECS));
        let span = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(Stop::Timeout);
                }
                (d - now).min(keepalive)
            }
            None => keepalive,
        };
        let mut events = libc::POLLIN;
        if outbound {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe {
            libc::poll(
                &mut pfd,
                1,
                span.as_millis().clamp(1, i32::MAX as u128) as i32,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(Stop::Transport(format!("poll failed: {err}")));
        }
        if rc == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Stop::Timeout);
            }
            // Idle for a keepalive interval: tell the server we are alive (a
            // dead peer then shows up as a socket error).
            let _ = self.session.keepalive_send();
        }
        Ok(())
    }

    fn run(
        &self,
        channel: &mut Channel,
        command: &str,
        stdin: &[u8],
        deadline: Option<Instant>,
    ) -> Result<ExecOutput, Stop> {
        self.io(deadline, || channel.exec(command))?;
        let mut stderr = channel.stderr();
        let mut stdout_buf = Vec::new();
        let mut stderr_buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut sent = 0usize;
        let mut eof_sent = false;
        loop {
            let mut progress = false;
            // Did the stdin side block on the socket (outbound), or on the
            // channel window (to be reopened by data we read)?
            let mut write_blocked_out = false;
            if !eof_sent {
                if sent < stdin.len() {
                    let end = (sent + STDIN_SLICE).min(stdin.len());
                    match channel.write(&stdin[sent..end]) {
                        Ok(n) => {
                            sent += n;
                            progress |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            write_blocked_out = wants_out(self.session.block_directions());
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // The command no longer takes input (it closed its
                        // stdin or exited): the rest is dropped, like a
                        // shell's broken pipe.
                        Err(_) => {
                            sent = stdin.len();
                            eof_sent = true;
                            progress = true;
                        }
                    }
                } else {
                    match channel.send_eof() {
                        Ok(()) => {
                            eof_sent = true;
                            progress = true;
                        }
                        Err(e) if code(&e) == LIBSSH2_EAGAIN => {
                            write_blocked_out = wants_out(self.session.block_directions());
                        }
                        Err(_) => eof_sent = true,
                    }
                }
            }
            progress |= drain(channel, &mut stdout_buf, &mut chunk)?;
            progress |= drain(&mut stderr, &mut stderr_buf, &mut chunk)?;
            if channel.eof() {
                break;
            }
            if progress {
                continue;
            }
            // Reading may have opened the write window since the write above
            // blocked; try again before sleeping on the socket.
            if !eof_sent
                && !write_blocked_out
                && sent < stdin.len()
                && channel.write_window().remaining > 0
            {
                continue;
            }
            self.wait(deadline, write_blocked_out)?;
        }
        self.io(deadline, || channel.close())?;
        self.io(deadline, || channel.wait_close())?;
        let status = channel
            .exit_status()
            .map_err(|e| Stop::Transport(e.message().to_string()))?;
        let signal = channel
            .exit_signal()
            .ok()
            .and_then(|s| s.exit_signal)
            .map(|s| s.trim_start_matches("SIG").to_string())
            .filter(|s| !s.is_empty());
        let rc = match &signal {
            Some(name) => signal_number(name).map_or(255, |n| 128 + n),
            None => status,
        };
        Ok(ExecOutput {
            rc,
            stdout: stdout_buf,
            stderr: stderr_buf,
            signal,
        })
    }

    /// Closes an abandoned channel without letting it block for long.
    fn abandon(&self, mut channel: Channel) {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let _ = self.io(deadline, || channel.close());
        // Dropping frees it; with the close sent this needs no I/O.
        drop(channel);
    }
}

impl Connection for SshConnection {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        let started = Instant::now();
        let result = self.exec_once(command, stdin);
        super::trace::exec(
            &self.target,
            command,
            stdin.map_or(0, <[u8]>::len),
            started.elapsed(),
            &result,
        );
        result
    }

    fn close(&mut self) {
        self.session.set_blocking(true);
        self.session.set_timeout(1000);
        let _ = self.session.disconnect(None, "berth: done", None);
    }
}

impl SshConnection {
    fn exec_once(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        super::record::command(&self.target, command);
        let deadline = self.command_timeout.map(|t| Instant::now() + t);
        // Sends a keepalive only when one is due (no round trip: the reply is
        // read along with the command's output).
        let _ = self.session.keepalive_send();
        let opened = self.io(deadline, || {
            self.session.channel_open("session", WINDOW, PACKET, None)
        });
        let mut channel = match opened {
            Ok(c) => c,
            Err(stop) => return Err(self.fail(stop, command)),
        };
        match self.run(&mut channel, command, stdin.unwrap_or(&[]), deadline) {
            Ok(out) => Ok(out),
            Err(stop) => {
                if matches!(stop, Stop::Timeout) {
                    self.abandon(channel);
                }
                Err(self.fail(stop, command))
            }
        }
    }

    fn fail(&self, stop: Stop, command: &str) -> ConnError {
        match stop {
            Stop::Timeout => {
                let shown: String = command.chars().take(80).collect();
                let more = if shown.len() < command.len() {
                    "..."
                } else {
                    ""
                };
                let after = self.command_timeout.map(secs).unwrap_or_default();
                ConnError::Unreachable(format!(
                    "{}: command timed out after {after}: {shown}{more}; raise the command timeout if it needs longer",
                    self.target
                ))
            }
            Stop::Transport(msg) => {
                ConnError::Unreachable(format!("{}: connection lost: {msg}", self.target))
            }
        }
    }
}

/// Reads everything a stream has now; true when anything came.
fn drain(stream: &mut impl Read, sink: &mut Vec<u8>, chunk: &mut [u8]) -> Result<bool, Stop> {
    let mut got = false;
    loop {
        match stream.read(chunk) {
            Ok(0) => return Ok(got),
            Ok(n) => {
                sink.extend_from_slice(&chunk[..n]);
                got = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Stop::Transport(e.to_string())),
        }
    }
}

fn wants_out(dirs: BlockDirections) -> bool {
    matches!(dirs, BlockDirections::Outbound | BlockDirections::Both)
}

fn code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(c) => c,
        ErrorCode::SFTP(c) => c,
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u128::from(u32::MAX)) as u32
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Resolves the host and tries every address, each within the connect timeout.
fn tcp_connect(opts: &SshOptions, target: &str) -> Result<TcpStream, ConnError> {
    let addrs: Vec<_> = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| {
            ConnError::Unreachable(format!("{target}: cannot resolve {}: {e}", opts.host))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnError::Unreachable(format!(
            "{target}: {} has no address",
            opts.host
        )));
    }
    let mut errors = Vec::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, opts.connect_timeout) {
            Ok(stream) => {
                tune_socket(&stream);
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => errors.push(format!(
                "{addr}: no answer within {}",
                secs(opts.connect_timeout)
            )),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(ConnError::Unreachable(format!(
        "{target}: cannot connect: {}",
        errors.join("; ")
    )))
}

/// No Nagle delay (commands are small request/reply exchanges), TCP
/// keepalives and a bound on unacknowledged data so that a vanished host is
/// noticed instead of waited on forever.
fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let set = |level: i32, name: i32, value: i32| {
        // SAFETY: setsockopt with a pointer to a live i32 and its size.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, KEEPALIVE_SECS as i32);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    set(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 60_000);
}

/// The explicit key, then every agent identity, then the default keys.
fn authenticate(session: &Session, opts: &SshOptions, target: &str) -> Result<(), ConnError> {
    let user = opts.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let transport = |e: &ssh2::Error| -> Option<ConnError> {
        TRANSPORT_ERRORS.contains(&code(e)).then(|| {
            ConnError::Unreachable(format!(
                "{target}: connection lost during authentication: {}",
                e.message()
            ))
        })
    };

    if let Some(key) = &opts.private_key {
        if !key.is_file() {
            return Err(ConnError::Unreachable(format!(
                "{target}: private key file {} does not exist; check --private-key / ansible_ssh_private_key_file",
                key.display()
            )));
        }
        match session.userauth_pubkey_file(user, None, key, None) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("key {}", key.display())),
            Err(e) => {
                if let Some(err) = transport(&e) {
                    return Err(err);
                }
                tried.push(describe_key_failure(key, &e));
            }
        }
    }

    let mut agent_ids = 0usize;
    if std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()) {
        if let Ok(mut agent) = session.agent() {
            if agent.connect().is_ok() && agent.list_identities().is_ok() {
                for identity in agent.identities().unwrap_or_default() {
                    agent_ids += 1;
                    match agent.userauth(user, &identity) {
                        Ok(()) if session.authenticated() => {
                            let _ = agent.disconnect();
                            return Ok(());
                        }
                        Ok(()) => {}
                        Err(e) => {
                            if let Some(err) = transport(&e) {
                                let _ = agent.disconnect();
                                return Err(err);
                            }
                        }
                    }
                }
                let _ = agent.disconnect();
            }
        }
    }

    let ssh_dir = known_hosts::home_dir().join(".ssh");
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let key = ssh_dir.join(name);
        if !key.is_file() || opts.private_key.as_ref() == Some(&key) {
            continue;
        }
        match session.userauth_pubkey_file(user, None, &key, None) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("key {}", key.display())),
            Err(e) => {
                if let Some(err) = transport(&e) {
                    return Err(err);
                }
                tried.push(describe_key_failure(&key, &e));
            }
        }
    }

    let keys = if tried.is_empty() {
        "no key files".to_string()
    } else {
        tried.join(", ")
    };
    Err(ConnError::Unreachable(format!(
        "authentication failed for {target}: tried {keys}, {agent_ids} agent identities; \
         check --private-key / ansible_ssh_private_key_file"
    )))
}

fn describe_key_failure(key: &std::path::Path, e: &ssh2::Error) -> String {
    // -16 (FILE): the key could not be loaded (missing public part, passphrase,
    // unsupported format); anything else is the server saying no.
    if code(e) == -16 {
        format!("key {} (unusable: {})", key.display(), e.message())
    } else {
        format!("key {}", key.display())
    }
}

/// POSIX signal numbers by the names SSH reports (`KILL`, `TERM`, ...).
fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbed::sshd_fleet::{FleetHost, SshdFleet};
    use std::fs;
    use std::sync::Arc;

    /// A fleet in a temporary directory; the fleet is stopped before the
    /// directory goes.
    struct Fixture {
        fleet: SshdFleet,
        dir: tempfile::TempDir,
    }

    fn fleet(count: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let fleet = SshdFleet::start(&dir.path().join("fleet"), count).unwrap();
        Fixture { fleet, dir }
    }

    impl Fixture {
        fn host(&self, i: usize) -> FleetHost {
            self.fleet.hosts()[i].clone()
        }
        fn opts(&self, i: usize) -> SshOptions {
            let mut opts = self.fleet.ssh_options(&self.host(i));
            opts.command_timeout = Some(Duration::from_secs(60));
            opts
        }
        fn connect(&self, i: usize) -> SshConnection {
            SshConnection::connect(&self.opts(i)).unwrap()
        }
    }

    fn unreachable(r: Result<impl Sized, ConnError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(ConnError::Unreachable(msg)) => msg,
        }
    }

    /// Deterministic bytes covering every value.
    fn pattern(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x1234_5678;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn exit_codes_and_streams_on_one_session() {
        let f = fleet(1);
        let mut c = f.connect(0);
        let out = c.exec("echo out; echo err >&2; exit 3", None).unwrap();
        assert_eq!(
            (out.rc, out.stdout.as_slice(), out.stderr.as_slice()),
            (3, &b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(out.signal, None);
        let out = c.exec("true", None).unwrap();
        assert!(out.success());
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
        assert_eq!(c.exec("exit 255", None).unwrap().rc, 255);
        // No stdin given: the command sees EOF at once instead of waiting.
        let out = c.exec("cat; echo done", None).unwrap();
        assert_eq!(out.stdout, b"done\n");
        // The same session serves many commands (one sshd per connection).
        let pid = c.exec("echo $PPID", None).unwrap().stdout;
        for _ in 0..20 {
            assert_eq!(c.exec("echo $PPID", None).unwrap().stdout, pid);
        }
        c.close();
    }

    #[test]
    fn eight_mib_of_stdin_comes_back() {
        let f = fleet(1);
        let mut c = f.connect(0);
        let data = pattern(8 * 1024 * 1024);
        let out = c.exec("cat", Some(&data)).unwrap();
        assert_eq!(out.rc, 0);
        assert_eq!(out.stdout.len(), data.len());
        assert!(out.stdout == data, "stdin came back altered");
        // A command that reads none of its stdin still finishes.
        let out = c.exec("exit 7", Some(&data)).unwrap();
        assert_eq!(out.rc, 7);
        let out = c.exec("head -c 10", Some(&data)).unwrap();
        assert_eq!(out.stdout, &data[..10]);
    }

    #[test]
    fn large_output_on_both_streams_at_once() {
        let f = fleet(1);
        let mut c = f.connect(0);
        let n = 5 * 1024 * 1024;
        let out = c
            .exec(&format!("(head -c {n} /dev/zero | tr '\\0' e >&2) & head -c {n} /dev/zero | tr '\\0' o; wait"), None)
            .unwrap();
        assert_eq!(out.rc, 0);
        assert_eq!(out.stdout.len(), n);
        assert_eq!(out.stderr.len(), n);
        assert!(out.stdout.iter().all(|b| *b == b'o'));
        assert!(out.stderr.iter().all(|b| *b == b'e'));
        // stdin in, both streams out, all at the same time.
        let data = pattern(6 * 1024 * 1024);
        let out = c.exec("tee /dev/stderr", Some(&data)).unwrap();
        assert!(out.stdout == data && out.stderr == data);
    }

    #[test]
    fn killed_by_signal_is_reported() {
        let f = fleet(1);
        let mut c = f.connect(0);
        let out = c.exec("echo before; kill -9 $$", None).unwrap();
        assert_eq!(out.signal.as_deref(), Some("KILL"));
        assert_eq!(out.rc, 137);
        assert_eq!(out.stdout, b"before\n");
        assert!(!out.success());
        let out = c.exec("kill -TERM $$", None).unwrap();
        assert_eq!((out.rc, out.signal.as_deref()), (143, Some("TERM")));
        // The session survives.
        assert_eq!(c.exec("echo after", None).unwrap().stdout, b"after\n");
    }

    #[test]
    fn non_utf8_bytes_are_preserved() {
        let f = fleet(1);
        let mut c = f.connect(0);
        let out = c
            .exec(r"printf '\377\376\000a\200'; printf '\300\001' >&2", None)
            .unwrap();
        assert_eq!(out.stdout, [0xff, 0xfe, 0x00, b'a', 0x80]);
        assert_eq!(out.stderr, [0xc0, 0x01]);
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(c.exec("cat", Some(&all)).unwrap().stdout, all);
    }

    #[test]
    fn accept_new_records_the_key_then_strict_accepts_it() {
        let f = fleet(2);
        let kh = f.dir.path().join("sub").join("known_hosts");
        let mut opts = f.opts(1);
        opts.known_hosts = kh.clone();
        opts.host_key_checking = HostKeyChecking::AcceptNew;
        SshConnection::connect(&opts).unwrap();
        let text = fs::read_to_string(&kh).unwrap();
        let host = f.host(1);
        assert_eq!(text.lines().count(), 1);
        let recorded = text
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let fleet_line = fs::read_to_string(f.fleet.known_hosts())
            .unwrap()
            .lines()
            .find(|l| l.starts_with(&format!("[{}]:{} ", host.addr, host.port)))
            .unwrap()
            .to_string();
        assert_eq!(
            recorded, fleet_line,
            "the recorded line is the host's real key in [addr]:port form"
        );
        // Again with accept-new: nothing new is written.
        SshConnection::connect(&opts).unwrap();
        assert_eq!(fs::read_to_string(&kh).unwrap(), text);
        opts.host_key_checking = HostKeyChecking::Strict;
        let mut c = SshConnection::connect(&opts).unwrap();
        assert!(c.exec("true", None).unwrap().success());
        // Another host is still unknown to that file.
        let mut other = f.opts(0);
        other.known_hosts = kh;
        let msg = unreachable(SshConnection::connect(&other));
        assert!(msg.contains("strict"), "{msg}");
    }

    #[test]
    fn a_changed_host_key_is_refused_with_the_fix() {
        let f = fleet(2);
        let (h0, h1) = (f.host(0), f.host(1));
        // host01's name with host02's key: what a reinstalled host looks like.
        let fleet_kh = fs::read_to_string(f.fleet.known_hosts()).unwrap();
        let key_of_h1 = fleet_kh.lines().nth(1).unwrap().split_once(' ').unwrap().1;
        let kh = f.dir.path().join("changed_known_hosts");
        fs::write(&kh, format!("[{}]:{} {key_of_h1}\n", h0.addr, h0.port)).unwrap();
        for policy in [HostKeyChecking::Strict, HostKeyChecking::AcceptNew] {
            let mut opts = f.opts(0);
            opts.known_hosts = kh.clone();
            opts.host_key_checking = policy;
            let msg = unreachable(SshConnection::connect(&opts));
            let name = format!("[{}]:{}", h0.addr, h0.port);
            assert!(msg.contains("CHANGED"), "{msg}");
            assert!(msg.contains(&name), "{msg}");
            assert!(msg.contains(&kh.display().to_string()), "{msg}");
            assert!(
                msg.contains(&format!("ssh-keygen -R '{name}' -f {}", kh.display())),
                "{msg}"
            );
        }
        // Nothing was appended, and checking off ignores the file.
        assert_eq!(fs::read_to_string(&kh).unwrap().lines().count(), 1);
        let mut opts = f.opts(0);
        opts.known_hosts = kh;
        opts.host_key_checking = HostKeyChecking::Off;
        SshConnection::connect(&opts).unwrap();
        let _ = h1;
    }

    /// Replaces host01's key with one of another type and restarts it.
    fn rekey(f: &Fixture, args: &[&str]) {
        let key = f
            .fleet
            .state_dir()
            .join("host01")
            .join("ssh_host_ed25519_key");
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", ""])
            .args(args)
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        f.fleet.restart("host01").unwrap();
    }

    #[test]
    fn ecdsa_and_rsa_host_keys_and_a_new_key_type() {
        let f = fleet(1);
        let host = f.host(0);
        let name = format!("[{}]:{}", host.addr, host.port);
        let kh = f.dir.path().join("typed_known_hosts");
        let mut opts = f.opts(0);
        opts.known_hosts = kh.clone();
        opts.host_key_checking = HostKeyChecking::AcceptNew;

        rekey(&f, &["-t", "ecdsa", "-b", "256"]);
        SshConnection::connect(&opts).unwrap();
        let text = fs::read_to_string(&kh).unwrap();
        assert!(
            text.starts_with(&format!("{name} ecdsa-sha2-nistp256 ")),
            "{text}"
        );

        // The host now only has an RSA key: known by another type, it is
        // new rather than changed (as in OpenSSH), so strict refuses it as
        // unknown and accept-new records it next to the ECDSA line.
        rekey(&f, &["-t", "rsa", "-b", "2048"]);
        opts.host_key_checking = HostKeyChecking::Strict;
        let msg = unreachable(SshConnection::connect(&opts));
        assert!(
            msg.contains("host key verification failed") && !msg.contains("CHANGED"),
            "{msg}"
        );
        opts.host_key_checking = HostKeyChecking::AcceptNew;
        let mut c = SshConnection::connect(&opts).unwrap();
        assert!(c.exec("true", None).unwrap().success());
        let text = fs::read_to_string(&kh).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].starts_with(&format!("{name} ssh-rsa ")), "{text}");
        opts.host_key_checking = HostKeyChecking::Strict;
        SshConnection::connect(&opts).unwrap();

        // A different RSA key under the recorded RSA entry is a change.
        rekey(&f, &["-t", "rsa", "-b", "2048"]);
        let msg = unreachable(SshConnection::connect(&opts));
        assert!(msg.contains("CHANGED") && msg.contains("ssh-rsa"), "{msg}");
    }

    #[test]
    fn strict_refuses_an_unknown_host() {
        let f = fleet(1);
        let mut opts = f.opts(0);
        opts.known_hosts = f.dir.path().join("empty_known_hosts");
        let msg = unreachable(SshConnection::connect(&opts));
        assert!(msg.contains("host key verification failed"), "{msg}");
        assert!(msg.contains("SHA256:"), "{msg}");
        assert!(!opts.known_hosts.exists(), "strict never writes");
    }

    #[test]
    fn a_wrong_key_gives_a_clear_auth_error() {
        let f = fleet(1);
        let key = f.dir.path().join("stranger");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        let mut opts = f.opts(0);
        opts.private_key = Some(key.clone());
        let msg = unreachable(SshConnection::connect(&opts));
        let host = f.host(0);
        let head = format!(
            "authentication failed for {}@{}:{}: tried key {}",
            f.fleet.user(),
            host.addr,
            host.port,
            key.display()
        );
        assert!(msg.starts_with(&head), "{msg}");
        assert!(
            msg.contains("agent identities; check --private-key / ansible_ssh_private_key_file"),
            "{msg}"
        );

        opts.private_key = Some(f.dir.path().join("no_such_key"));
        let msg = unreachable(SshConnection::connect(&opts));
        assert!(msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn a_killed_host_is_unreachable_quickly() {
        let f = fleet(2);
        let mut c = f.connect(0);
        assert!(c.exec("true", None).unwrap().success());
        f.fleet.kill("host01").unwrap();
        let t = Instant::now();
        let msg = unreachable(c.exec("true", None));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(msg.contains("connection lost"), "{msg}");
        let t = Instant::now();
        let msg = unreachable(SshConnection::connect(&f.opts(0)));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(msg.contains("cannot connect"), "{msg}");
        // The other host is unaffected.
        assert!(f.connect(1).exec("true", None).unwrap().success());

        // A host that takes the TCP connection but never speaks SSH.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut opts = f.opts(1);
        opts.host = "127.0.0.1".into();
        opts.port = silent.local_addr().unwrap().port();
        opts.host_key_checking = HostKeyChecking::Off;
        opts.connect_timeout = Duration::from_millis(800);
        let t = Instant::now();
        let msg = unreachable(SshConnection::connect(&opts));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(msg.contains("no SSH greeting within 0.8s"), "{msg}");
    }

    use std::net::TcpListener;

    #[test]
    fn command_timeout_bounds_a_command() {
        let f = fleet(1);
        let mut opts = f.opts(0);
        opts.command_timeout = Some(Duration::from_millis(500));
        let mut c = SshConnection::connect(&opts).unwrap();
        let t = Instant::now();
        let msg = unreachable(c.exec("sleep 5", None));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(msg.contains("timed out after 0.5s: sleep 5"), "{msg}");
    }

    #[test]
    fn parallel_accept_new_writes_each_host_once() {
        // 200 hosts, each connected to twice at the same moment.
        const HOSTS: usize = 200;
        let f = Arc::new(fleet(HOSTS));
        let kh = f.dir.path().join("parallel_known_hosts");
        let threads: Vec<_> = (0..2 * HOSTS)
            .map(|t| {
                let f = Arc::clone(&f);
                let kh = kh.clone();
                std::thread::spawn(move || {
                    let mut opts = f.opts(t % HOSTS);
                    opts.known_hosts = kh;
                    opts.host_key_checking = HostKeyChecking::AcceptNew;
                    let mut c = SshConnection::connect(&opts).unwrap();
                    c.exec("true", None).unwrap().rc
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 0);
        }
        let text = fs::read_to_string(&kh).unwrap();
        assert_eq!(text.lines().count(), HOSTS, "{text}");
        let mut recorded: Vec<&str> = text.lines().collect();
        recorded.sort();
        let fleet_text = fs::read_to_string(f.fleet.known_hosts()).unwrap();
        let mut expected: Vec<&str> = fleet_text.lines().collect();
        expected.sort();
        assert_eq!(recorded, expected);
    }

    /// Per-exec latency of `true` on one session, against OpenSSH's client
    /// multiplexing over a ControlMaster. Run with
    /// `BERTH_BENCH_EXECS=1000 cargo test --lib connection::ssh::tests::bench_exec_latency -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_exec_latency() {
        let f = fleet(1);
        let host = f.host(0);
        let n: u32 = std::env::var("BERTH_BENCH_EXECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let mut c = f.connect(0);
        let t = Instant::now();
        for _ in 0..n {
            assert!(c.exec("true", None).unwrap().success());
        }
        let ours = t.elapsed();
        let control = f.dir.path().join("cm");
        let ssh = |extra: &[&str]| {
            let mut cmd = std::process::Command::new("ssh");
            cmd.args([
                "-o",
                "ControlMaster=auto",
                "-o",
                "ControlPersist=60",
                "-o",
                "BatchMode=yes",
            ])
            .arg("-o")
            .arg(format!("ControlPath={}", control.display()))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                f.fleet.known_hosts().display()
            ))
            .arg("-i")
            .arg(f.fleet.client_key())
            .args(["-p", &host.port.to_string()])
            .arg(format!("{}@{}", f.fleet.user(), host.addr))
            .args(extra);
            cmd
        };
        assert!(ssh(&["true"]).status().unwrap().success());
        let t = Instant::now();
        for _ in 0..n {
            assert!(ssh(&["true"]).status().unwrap().success());
        }
        let theirs = t.elapsed();
        let _ = ssh(&["-O", "exit"]).output();
        let t = Instant::now();
        for _ in 0..20 {
            SshConnection::connect(&f.opts(0)).unwrap();
        }
        let connect = t.elapsed() / 20;
        println!(
            "{n} sequential `true`: berth session {:.3} ms/exec ({:?} total); ssh ControlMaster {:.3} ms/exec ({:?} total); berth connect+auth {:.2} ms",
            ours.as_secs_f64() * 1000.0 / f64::from(n),
            ours,
            theirs.as_secs_f64() * 1000.0 / f64::from(n),
            theirs,
            connect.as_secs_f64() * 1000.0
        );
    }
}
