//! The loopback HTTP/1.1 plumbing the fakes share ([`crate::FakeEcr`],
//! [`crate::FakeEks`], [`crate::QueryProxy`]): a server on a free port
//! that reads each request (with a `content-length` or a chunked body) and
//! hands it to the fake's handler, a response writer, and forwarding of a
//! request to an upstream server (moto) with its answer relayed whole.
//! Only what the SDK's requests need; not a general HTTP server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// One request as read off the connection.
pub(crate) struct Request {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The header lines, as sent (`name: value`).
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string (empty without one).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// What a handler answers.
pub(crate) enum Reply {
    /// A whole response; the connection stays open for the next request.
    Keep(Vec<u8>),
    /// A whole response after which the connection closes (a forwarded
    /// answer, which says `connection: close`).
    Close(Vec<u8>),
}

/// Start a server on a free loopback port that gives every request to
/// `handler`; returns its `http://127.0.0.1:PORT` endpoint. The server
/// lives as long as the test process; each connection has its thread.
pub(crate) fn serve<F>(what: &str, handler: F) -> String
where
    F: Fn(Request) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let port = listener.local_addr().expect("addr").port();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || connection(stream, handler.as_ref()));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn connection(stream: TcpStream, handler: &(dyn Fn(Request) -> Reply + Send + Sync)) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let (bytes, keep) = match handler(request) {
            Reply::Keep(b) => (b, true),
            Reply::Close(b) => (b, false),
        };
        if writer.write_all(&bytes).is_err() || !keep {
            return;
        }
    }
}

/// The next request on the connection; `None` at its end or on a request
/// that cannot be read.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        headers.push(h.to_string());
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    request.body = if chunked {
        read_chunked(reader)?
    } else {
        let length = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(request)
}

/// A chunked request body, de-chunked.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A whole response: status line, `content-type`, `content-length`, the
/// `extra` headers, then `body`.
pub(crate) fn response(
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Send `request` to `upstream` (`host:port`) on a new connection and
/// return its whole answer, its head saying `connection: close` (answer
/// with [`Reply::Close`]).
pub(crate) fn forward(upstream: &str, request: &Request) -> Option<Vec<u8>> {
    let mut out = TcpStream::connect(upstream).ok()?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {upstream}\r\n",
        request.method, request.target
    );
    for h in &request.headers {
        let name = h
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    out.write_all(head.as_bytes()).ok()?;
    out.write_all(&request.body).ok()?;
    let mut answer = Vec::new();
    out.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let mut rewritten = format!("{}\r\n", lines.next()?);
    for l in lines {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(l);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("connection: close\r\n\r\n");
    let mut whole = rewritten.into_bytes();
    whole.extend_from_slice(&answer[split + 4..]);
    Some(whole)
}

/// `http://host:port/` → `host:port`.
pub(crate) fn host_of(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}
