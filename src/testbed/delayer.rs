//! `berth testbed delay`: a tiny nfnetlink_queue client. Packets queued by
//! the testbed's NFQUEUE rules are accepted only after their queue's delay,
//! which adds that latency to the link without sch_netem.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQA_CFG_F_FAIL_OPEN: u32 = 1;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NF_ACCEPT: u32 = 1;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;

pub(crate) struct Delayer {
    fd: i32,
    delays: BTreeMap<u16, Duration>,
    seq: u32,
}

impl Delayer {
    /// Bind every queue (queue number → delay) on one netlink socket.
    pub(crate) fn bind(delays: BTreeMap<u16, Duration>) -> Result<Delayer, String> {
        // SAFETY: plain socket syscalls on a descriptor we own.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(format!(
                "netlink socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let size: i32 = 8 << 20;
        unsafe {
            if libc::bind(
                fd,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) < 0
            {
                return Err(format!("netlink bind: {}", std::io::Error::last_os_error()));
            }
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const i32 as *const libc::c_void,
                4,
            );
        }
        let mut d = Delayer { fd, delays, seq: 0 };
        let queues: Vec<u16> = d.delays.keys().copied().collect();
        for q in queues {
            d.config(
                q,
                NFQA_CFG_CMD,
                &[NFQNL_CFG_CMD_BIND, 0, 0, libc::AF_INET as u8],
            )?;
            let mut params = 0u32.to_be_bytes().to_vec();
            params.push(NFQNL_COPY_META);
            d.config(q, NFQA_CFG_PARAMS, &params)?;
            d.config(q, NFQA_CFG_QUEUE_MAXLEN, &8192u32.to_be_bytes())?;
            let mut flags = NFQA_CFG_F_FAIL_OPEN.to_be_bytes().to_vec();
            flags.extend_from_slice(&NFQA_CFG_F_FAIL_OPEN.to_be_bytes());
            d.config_flags(q, &flags)?;
        }
        Ok(d)
    }

    fn config(&mut self, queue: u16, attr: u16, payload: &[u8]) -> Result<(), String> {
        let mut attrs = Vec::new();
        push_attr(&mut attrs, attr, payload);
        self.request(queue, &attrs)
    }

    fn config_flags(&mut self, queue: u16, mask_then_flags: &[u8]) -> Result<(), String> {
        let mut attrs = Vec::new();
        push_attr(&mut attrs, NFQA_CFG_FLAGS, &mask_then_flags[4..]);
        push_attr(&mut attrs, NFQA_CFG_MASK, &mask_then_flags[..4]);
        self.request(queue, &attrs)
    }

    /// Send a CONFIG message and wait for the kernel's acknowledgement.
    fn request(&mut self, queue: u16, attrs: &[u8]) -> Result<(), String> {
        self.seq += 1;
        let msg = message(
            NFQNL_MSG_CONFIG,
            NLM_F_REQUEST | NLM_F_ACK,
            self.seq,
            queue,
            attrs,
        );
        self.send(&msg)?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.recv(&mut buf, 2000)?;
            if n == 0 {
                return Err(format!("no answer from the kernel binding queue {queue}"));
            }
            for (ty, body) in messages(&buf[..n]) {
                if ty == NLMSG_ERROR && body.len() >= 4 {
                    let code = i32::from_ne_bytes(body[..4].try_into().unwrap());
                    if code == 0 {
                        return Ok(());
                    }
                    return Err(format!(
                        "binding queue {queue}: {}",
                        std::io::Error::from_raw_os_error(-code)
                    ));
                }
            }
        }
    }

    fn send(&self, msg: &[u8]) -> Result<(), String> {
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and addr outlive the call.
        let r = unsafe {
            libc::sendto(
                self.fd,
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(format!("netlink send: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Receive one datagram, waiting at most `timeout_ms` (0 bytes on timeout).
    fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> Result<usize, String> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; buf is writable for its length.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ready <= 0 {
            return Ok(0);
        }
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            // ENOBUFS: the kernel dropped notifications (fail-open accepts them); go on.
            if err.raw_os_error() == Some(libc::ENOBUFS)
                || err.kind() == std::io::ErrorKind::Interrupted
            {
                return Ok(0);
            }
            return Err(format!("netlink recv: {err}"));
        }
        Ok(n as usize)
    }

    fn accept(&mut self, queue: u16, id: u32) -> Result<(), String> {
        let mut hdr = NF_ACCEPT.to_be_bytes().to_vec();
        hdr.extend_from_slice(&id.to_be_bytes());
        let mut attrs = Vec::new();
        push_attr(&mut attrs, NFQA_VERDICT_HDR, &hdr);
        self.seq += 1;
        let msg = message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, self.seq, queue, &attrs);
        self.send(&msg)
    }

    /// Hold every queued packet for its queue's delay, then accept it.
    pub(crate) fn run(mut self) -> Result<(), String> {
        let mut pending: BinaryHeap<Reverse<(Instant, u16, u32)>> = BinaryHeap::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let now = Instant::now();
            while let Some(Reverse((due, q, id))) = pending.peek().copied() {
                if due > now {
                    break;
                }
                pending.pop();
                self.accept(q, id)?;
            }
            let wait = pending
                .peek()
                .map(|Reverse((due, _, _))| {
                    due.saturating_duration_since(now)
                        .as_micros()
                        .div_ceil(1000) as i32
                })
                .unwrap_or(1000);
            let n = self.recv(&mut buf, wait.max(0))?;
            let arrived = Instant::now();
            for (ty, body) in messages(&buf[..n]) {
                if ty != (NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET) || body.len() < 4 {
                    continue;
                }
                let queue = u16::from_be_bytes([body[2], body[3]]);
                for (attr, payload) in attributes(&body[4..]) {
                    if attr == NFQA_PACKET_HDR && payload.len() >= 4 {
                        let id = u32::from_be_bytes(payload[..4].try_into().unwrap());
                        let delay = self.delays.get(&queue).copied().unwrap_or_default();
                        pending.push(Reverse((arrived + delay, queue, id)));
                    }
                }
            }
        }
    }
}

impl Drop for Delayer {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A netlink message: header, nfgenmsg (family, version 0, queue), attributes.
fn message(msg: u16, flags: u16, seq: u32, queue: u16, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&(NFNL_SUBSYS_QUEUE << 8 | msg).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(libc::AF_UNSPEC as u8);
    m.push(0);
    m.extend_from_slice(&queue.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

fn push_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// (type, body after the 16-byte header) of each message in a datagram.
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        out.push((ty, &buf[off + 16..off + len]));
        off += (len + 3) & !3;
    }
    out
}

fn attributes(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        let len = u16::from_ne_bytes(buf[off..off + 2].try_into().unwrap()) as usize;
        if len < 4 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes(buf[off + 2..off + 4].try_into().unwrap()) & 0x3fff;
        out.push((ty, &buf[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Parse `QUEUE:MS`.
pub(crate) fn parse_queue(spec: &str) -> Result<(u16, Duration), String> {
    let (q, ms) = spec
        .split_once(':')
        .ok_or_else(|| format!("`{spec}`: expected QUEUE:MS"))?;
    let q = q
        .parse()
        .map_err(|_| format!("`{spec}`: bad queue number"))?;
    let ms: u64 = ms.parse().map_err(|_| format!("`{spec}`: bad delay"))?;
    Ok((q, Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_attributes_round_trip() {
        let mut attrs = Vec::new();
        push_attr(&mut attrs, NFQA_PACKET_HDR, &[0, 0, 0, 7, 8, 0, 3]);
        push_attr(&mut attrs, 9, &[1, 2, 3, 4]);
        let m = message(NFQNL_MSG_PACKET, 0, 1, 21301, &attrs);
        let mut two = m.clone();
        two.extend_from_slice(&m);
        let parsed = messages(&two);
        assert_eq!(parsed.len(), 2);
        let (ty, body) = parsed[0];
        assert_eq!(ty, NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET);
        assert_eq!(u16::from_be_bytes([body[2], body[3]]), 21301);
        let a = attributes(&body[4..]);
        assert_eq!(a[0], (NFQA_PACKET_HDR, &[0, 0, 0, 7, 8, 0, 3][..]));
        assert_eq!(a[1], (9, &[1, 2, 3, 4][..]));
        assert_eq!(
            parse_queue("21301:50").unwrap(),
            (21301, Duration::from_millis(50))
        );
        assert!(parse_queue("x").is_err());
    }
}
