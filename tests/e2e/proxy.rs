//! Loopback proxies for the reliability tests (and the soak run): an HTTP
//! proxy in front of moto that throttles, lags, loses chosen answers,
//! answers 503 or goes down, and a byte-level proxy (for PostgreSQL) that
//! goes down. Everything they do stays on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use terrace_testkit::Moto;

/// A fault the proxy injects into the requests of one API operation, for
/// its first request (see [`request_is`] for how an operation is told).
#[derive(Clone)]
pub(crate) struct Fault {
    pub(crate) action: &'static str,
    /// Forward the request to moto first (the call takes effect) and then
    /// answer with the error instead of moto's answer: a lost answer.
    pub(crate) reach_upstream: bool,
    /// Instead of any answer, close the connection (after moto carried the
    /// call out, with `reach_upstream`).
    pub(crate) reset: bool,
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) remaining: Arc<AtomicU64>,
}

/// Whether a request is a call of `op`: `Action=<op>` in a query-protocol
/// body (EC2, IAM, Auto Scaling), `X-Amz-Target: ….<op>` (ECR's JSON
/// protocol), or the REST request line of S3's `CreateBucket`
/// (`PUT /<bucket>/`) and EKS's `CreateCluster` (`POST /clusters`).
pub(crate) fn request_is(op: &str, head: &str, body: &[u8]) -> bool {
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    match op {
        "CreateBucket" => {
            let bucket = path.trim_start_matches('/').trim_end_matches('/');
            method == "PUT" && !bucket.is_empty() && !bucket.contains(['/', '?'])
        }
        "CreateCluster" => method == "POST" && path == "/clusters",
        _ => {
            let target = format!(".{}", op.to_ascii_lowercase());
            head.lines().any(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("x-amz-target:") && l.trim_end().ends_with(&target)
            }) || String::from_utf8_lossy(body)
                .split('&')
                .any(|kv| kv == format!("Action={op}"))
        }
    }
}

impl Fault {
    pub(crate) fn new(
        action: &'static str,
        reach_upstream: bool,
        status: u16,
        code: &'static str,
    ) -> Fault {
        Fault {
            action,
            reach_upstream,
            reset: false,
            status,
            code,
            remaining: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `op` reaches moto, which carries it out; then the connection is
    /// closed instead of answering.
    pub(crate) fn reset_after(action: &'static str) -> Fault {
        Fault {
            reset: true,
            ..Fault::new(action, true, 0, "")
        }
    }

    /// Does this request trigger the fault (and use one of its turns)?
    pub(crate) fn fires(&self, head: &str, body: &[u8]) -> bool {
        request_is(self.action, head, body)
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }

    pub(crate) fn response(&self) -> String {
        let body = format!(
            "<Response><Errors><Error><Code>{}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>x</RequestID></Response>",
            self.code
        );
        format!(
            "HTTP/1.1 {} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            self.status,
            body.len()
        )
    }
}

/// Credentials that expire mid-run: requests signed with `old_key` pass
/// until `after` of them have, then every one is answered `code` (e.g.
/// `ExpiredToken`) in its protocol's error format, as AWS answers a call
/// signed with an expired session. `on_expire` runs once, at the first
/// rejection (the test makes new credentials available there).
pub(crate) struct KeyExpiry {
    pub(crate) old_key: String,
    pub(crate) after: u64,
    pub(crate) code: &'static str,
    pub(crate) on_expire: Box<dyn Fn() + Send + Sync>,
    /// Requests signed with `old_key`, and with any other key.
    pub(crate) old_seen: AtomicU64,
    pub(crate) new_seen: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

impl KeyExpiry {
    pub(crate) fn new(
        old_key: &str,
        after: u64,
        code: &'static str,
        on_expire: impl Fn() + Send + Sync + 'static,
    ) -> Arc<KeyExpiry> {
        Arc::new(KeyExpiry {
            old_key: old_key.to_string(),
            after,
            code,
            on_expire: Box::new(on_expire),
            old_seen: AtomicU64::new(0),
            new_seen: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    /// The rejection for this request, if its key has expired.
    fn check(&self, head: &str, body: &[u8]) -> Option<String> {
        let key = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("authorization") {
                return None;
            }
            let cred = v.split("Credential=").nth(1)?;
            cred.split('/').next().map(str::to_string)
        })?;
        if key != self.old_key {
            self.new_seen.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        if self.old_seen.fetch_add(1, Ordering::SeqCst) < self.after {
            return None;
        }
        if self.rejected.fetch_add(1, Ordering::SeqCst) == 0 {
            (self.on_expire)();
        }
        Some(protocol_error(
            head,
            body,
            400,
            self.code,
            "The security token included in the request is expired",
        ))
    }
}

/// An error answer in the protocol of the request: EC2's query XML, the
/// JSON protocols (`X-Amz-Target`), other query protocols (IAM, STS, Auto
/// Scaling), REST-JSON (EKS) or REST-XML (S3).
pub(crate) fn protocol_error(
    head: &str,
    body: &[u8],
    status: u16,
    code: &str,
    msg: &str,
) -> String {
    let text = String::from_utf8_lossy(body);
    let lower = head.to_ascii_lowercase();
    let line = head.lines().next().unwrap_or("");
    let (content_type, extra, payload) = if text.contains("Version=2016-11-15") {
        (
            "text/xml",
            String::new(),
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors><RequestID>x</RequestID></Response>"
            ),
        )
    } else if lower.contains("\nx-amz-target:") {
        (
            "application/x-amz-json-1.1",
            String::new(),
            format!(r#"{{"__type":"{code}Exception","message":"{msg}"}}"#)
                .replace("ExceptionException", "Exception"),
        )
    } else if text.contains("Action=") {
        (
            "text/xml",
            String::new(),
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
            ),
        )
    } else if line.contains(" /clusters") {
        (
            "application/json",
            format!("x-amzn-ErrorType: {code}Exception\r\n")
                .replace("ExceptionException", "Exception"),
            format!(r#"{{"message":"{msg}"}}"#),
        )
    } else {
        (
            "application/xml",
            String::new(),
            format!(
                "<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>x</RequestId></Error>"
            ),
        )
    };
    format!(
        "HTTP/1.1 {status} Rejected\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
}

/// A loopback HTTP proxy in front of moto. Every `throttle_every`-th EC2
/// request (0: none) is answered with HTTP 400 `RequestLimitExceeded`;
/// every request is delayed by `latency`; [`Fault`]s answer chosen calls
/// with an error, before or after moto carried them out.
pub(crate) struct Proxy {
    pub(crate) endpoint: String,
    pub(crate) requests: Arc<AtomicU64>,
    pub(crate) throttled: Arc<AtomicU64>,
    pub(crate) stop: Arc<AtomicBool>,
    /// While true the proxy's port is closed (connections are refused) and
    /// its open connections are dropped.
    pub(crate) down: tokio::sync::watch::Sender<bool>,
    /// While true every request is answered `503 Service Unavailable`.
    pub(crate) unavailable: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

pub(crate) const THROTTLE_BODY: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Rate exceeded</Message></Error></Errors><RequestID>x</RequestID></Response>";

impl Proxy {
    pub(crate) fn start(upstream_port: u16, throttle_every: u64, latency: Duration) -> Proxy {
        Self::start_with(upstream_port, throttle_every, latency, Vec::new())
    }

    pub(crate) fn start_with(
        upstream_port: u16,
        throttle_every: u64,
        latency: Duration,
        faults: Vec<Fault>,
    ) -> Proxy {
        Self::start_full(upstream_port, throttle_every, latency, faults, None)
    }

    /// [`Proxy::start_with`], plus credentials that expire mid-run.
    pub(crate) fn start_full(
        upstream_port: u16,
        throttle_every: u64,
        latency: Duration,
        faults: Vec<Fault>,
        expiry: Option<Arc<KeyExpiry>>,
    ) -> Proxy {
        let faults = Arc::new(faults);
        let (down, down_rx) = tokio::sync::watch::channel(false);
        let unavailable_out = Arc::new(AtomicBool::new(false));
        let unavailable_in = unavailable_out.clone();
        let requests = Arc::new(AtomicU64::new(0));
        let throttled = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (req, thr, st) = (requests.clone(), throttled.clone(), stop.clone());
        let unavailable = unavailable_in;
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let first = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind proxy");
                tx.send(first.local_addr().unwrap().port()).unwrap();
                let ec2_seen = Arc::new(AtomicU64::new(0));
                accept_loop(first, down_rx, st, move |sock| {
                    let (req, thr, ec2_seen) = (req.clone(), thr.clone(), ec2_seen.clone());
                    let (faults, unavailable) = (faults.clone(), unavailable.clone());
                    let expiry = expiry.clone();
                    async move {
                        let _ = proxy_conn(
                            sock,
                            upstream_port,
                            throttle_every,
                            latency,
                            &req,
                            &thr,
                            &ec2_seen,
                            &faults,
                            &unavailable,
                            expiry.as_deref(),
                        )
                        .await;
                    }
                })
                .await;
            });
        });
        let port = rx.recv().expect("proxy port");
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
            throttled,
            stop,
            down,
            unavailable: unavailable_out,
        }
    }

    /// Answer every request with `503 Service Unavailable` for `length`.
    pub(crate) fn unavailable_for(&self, length: Duration) -> std::thread::JoinHandle<()> {
        let flag = self.unavailable.clone();
        for_a_while(move |on| flag.store(on, Ordering::SeqCst), length)
    }

    /// Refuse connections (and drop open ones) for `length`, then serve again.
    pub(crate) fn outage(&self, length: Duration) -> std::thread::JoinHandle<()> {
        let down = self.down.clone();
        for_a_while(
            move |on| {
                down.send_replace(on);
            },
            length,
        )
    }
}

/// Read one HTTP/1.1 message head plus a Content-Length body.
pub(crate) async fn read_message(
    sock: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    use tokio::io::AsyncReadExt;
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..(head_end + len).min(buf.len())].to_vec();
    buf.drain(..(head_end + len).min(buf.len()));
    Ok(Some((head, body)))
}

#[allow(clippy::too_many_arguments)] // one per fault the proxy can inject
pub(crate) async fn proxy_conn(
    mut client: tokio::net::TcpStream,
    upstream_port: u16,
    throttle_every: u64,
    latency: Duration,
    requests: &AtomicU64,
    throttled: &AtomicU64,
    ec2_seen: &AtomicU64,
    faults: &[Fault],
    unavailable: &AtomicBool,
    expiry: Option<&KeyExpiry>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    while let Some((head, body)) = read_message(&mut client, &mut buf).await? {
        requests.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(latency).await;
        if unavailable.load(Ordering::SeqCst) {
            let body = "<Error><Code>ServiceUnavailable</Code><Message>injected by the test proxy</Message></Error>";
            let resp = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(resp.as_bytes()).await?;
            continue;
        }
        if let Some(rejection) = expiry.and_then(|e| e.check(&head, &body)) {
            client.write_all(rejection.as_bytes()).await?;
            continue;
        }
        let is_ec2 = String::from_utf8_lossy(&body).contains("Version=2016-11-15");
        if is_ec2 && throttle_every > 0 {
            let n = ec2_seen.fetch_add(1, Ordering::SeqCst) + 1;
            if n.is_multiple_of(throttle_every) {
                throttled.fetch_add(1, Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{THROTTLE_BODY}",
                    THROTTLE_BODY.len()
                );
                client.write_all(resp.as_bytes()).await?;
                continue;
            }
        }
        let fault = faults.iter().find(|f| f.fires(&head, &body)).cloned();
        if let Some(f) = fault.as_ref().filter(|f| !f.reach_upstream) {
            client.write_all(f.response().as_bytes()).await?;
            continue;
        }
        // Forward on a fresh upstream connection that closes after one response.
        let mut up = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await?;
        let mut new_head = String::new();
        for line in head.trim_end().split("\r\n") {
            if line.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            new_head.push_str(line);
            new_head.push_str("\r\n");
        }
        new_head.push_str("Connection: close\r\n\r\n");
        up.write_all(new_head.as_bytes()).await?;
        up.write_all(&body).await?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp).await?;
        if let Some(f) = &fault {
            // moto carried the call out; its answer is lost.
            if f.reset {
                // Close without an answer: the client sees the connection end.
                return Ok(());
            }
            client.write_all(f.response().as_bytes()).await?;
            continue;
        }
        // Hand the response back with a Content-Length the client can rely on.
        let Some(i) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(());
        };
        let rhead = String::from_utf8_lossy(&resp[..i]).into_owned();
        let mut rbody = resp[i + 4..].to_vec();
        let chunked = rhead
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        if chunked {
            rbody = dechunk(&rbody);
        }
        let mut out = String::new();
        for line in rhead.split("\r\n") {
            let l = line.to_ascii_lowercase();
            if l.starts_with("connection:")
                || l.starts_with("content-length:")
                || l.starts_with("transfer-encoding:")
            {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", rbody.len()));
        client.write_all(out.as_bytes()).await?;
        client.write_all(&rbody).await?;
    }
    Ok(())
}

pub(crate) fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&b[..i]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return out;
        };
        if size == 0 || b.len() < i + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 2 + size + 2).min(b.len())..];
    }
}

/// `set(true)` now and `set(false)` after `length` (on a thread of its own).
pub(crate) fn for_a_while(
    set: impl Fn(bool) + Send + 'static,
    length: Duration,
) -> std::thread::JoinHandle<()> {
    set(true);
    std::thread::spawn(move || {
        std::thread::sleep(length);
        set(false);
    })
}

/// Serve connections from `first` with `handle` until `stop`. While `down`
/// is true the port is closed (connecting is refused) and every open
/// connection is dropped; afterwards the same port is bound again.
pub(crate) async fn accept_loop<H, Fut>(
    first: tokio::net::TcpListener,
    down: tokio::sync::watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    handle: H,
) where
    H: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let port = first.local_addr().unwrap().port();
    let mut listener = Some(first);
    while !stop.load(Ordering::SeqCst) {
        if *down.borrow() {
            listener = None;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let Some(l) = &listener else {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => listener = Some(l),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        let Ok(Ok((sock, _))) = tokio::time::timeout(Duration::from_millis(200), l.accept()).await
        else {
            continue;
        };
        let served = handle(sock);
        let mut down = down.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = served => {}
                _ = down.wait_for(|d| *d) => {}
            }
        });
    }
}

/// A byte-level loopback proxy (for PostgreSQL) that can go down.
pub(crate) struct TcpProxy {
    pub(crate) port: u16,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) down: tokio::sync::watch::Sender<bool>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl TcpProxy {
    pub(crate) fn start(upstream_port: u16) -> TcpProxy {
        let stop = Arc::new(AtomicBool::new(false));
        let (down, down_rx) = tokio::sync::watch::channel(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tcp proxy runtime");
            rt.block_on(async move {
                let first = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind tcp proxy");
                tx.send(first.local_addr().unwrap().port()).unwrap();
                accept_loop(first, down_rx, st, move |mut sock| async move {
                    if let Ok(mut up) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
                    }
                })
                .await;
            });
        });
        TcpProxy {
            port: rx.recv().expect("tcp proxy port"),
            stop,
            down,
        }
    }

    /// Refuse connections and drop open ones for `length` (a restart, as
    /// its clients see it).
    pub(crate) fn outage(&self, length: Duration) -> std::thread::JoinHandle<()> {
        let down = self.down.clone();
        for_a_while(
            move |on| {
                down.send_replace(on);
            },
            length,
        )
    }
}

pub(crate) fn aws_env_via(moto: &Moto, endpoint: &str) -> Vec<(String, String)> {
    moto.aws_env()
        .into_iter()
        .map(|(k, v)| {
            if k == "AWS_ENDPOINT_URL" {
                (k, endpoint.to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}
