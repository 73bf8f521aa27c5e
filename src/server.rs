//! The HTTP/1.1 server: hyper over our own accept loop. warp 0.4's loop gives hyper no timer
//! and takes every connection, so a client holding half a request header, trickling a body
//! or just keeping connections open was never cut off (issue 11, B11). Here:
//!
//! - a new connection, or one that has started a request, must finish its header within
//!   `header_read_timeout`, or it is closed;
//! - a request body must arrive within `body_timeout` of its header, or the answer is 408 and
//!   the connection is closed;
//! - a connection with no request under way is closed after `idle_timeout`;
//! - at most `max_connections` are open: further ones wait in the kernel's backlog until one
//!   closes, and the open ones are served meanwhile.
//!
//! Every timeout is watched by the connection's own task, woken when its state changes, so an
//! idle connection costs one sleeping timer.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use warp::Filter;
use warp::http::{HeaderValue, Request, StatusCode, header};
use warp::reply::Response;

/// How long the server waits for what, and how many connections it holds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Descriptors kept for everything else: the database, outbound calls to BigCommerce and
/// seQura, the stand-ins' in the demo.
const OTHER_FILES: usize = 256;

impl Limits {
    /// The connection cap, lowered to what the process may open (its `RLIMIT_NOFILE` soft
    /// limit, less [`OTHER_FILES`]): past it, accepting fails and so would the database and
    /// every outbound call.
    pub fn fitted_to_open_files(mut self) -> Self {
        if let Some(soft) = open_files_limit() {
            let room = soft.saturating_sub(OTHER_FILES).max(1);
            if self.max_connections > room {
                tracing::warn!(
                    configured = self.max_connections,
                    open_files_limit = soft,
                    using = room,
                    "server.max_connections is above what this process may open; raise \
                     `ulimit -n` (LimitNOFILE= under systemd) to use it"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// The soft limit on open files, where the system says (Linux's `/proc/self/limits`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The peer's address, put on every request (warp's own extension is private to warp).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The TCP peer of the request (a proxy's address behind a proxy).
pub fn peer() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>().map(|p: Option<PeerAddr>| p.map(|p| p.0))
}

/// What the server runs: the app's routes as a service (`warp::service(filter)`).
pub trait Routes:
    tower_service::Service<Request<Deadline<Incoming>>, Response = Response, Error = Infallible>
    + Clone
    + Send
    + 'static
{
}

impl<S> Routes for S where
    S: tower_service::Service<Request<Deadline<Incoming>>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static
{
}

/// Serves `service` (a `warp::service(filter)`) on `listener` until `shutdown` resolves,
/// then lets open requests finish and returns once every connection has closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Routes,
    S::Future: Send + 'static,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(Semaphore::new(max as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: beyond the cap, connections wait unaccepted.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, service, limits, stop).await;
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
    // Every slot back: every connection closed.
    let _ = slots.acquire_many(max).await;
}

/// One connection: hyper's HTTP/1.1 with the watchdog beside it.
async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    S: Routes,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = PerRequest {
        inner: service,
        peer,
        activity: activity.clone(),
        body_timeout: limits.body_timeout,
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        let changed = activity.changed.notified();
        let deadline = activity.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = sleep_until(deadline) => match activity.overdue(&limits) {
                Some(Overdue::Header) => {
                    tracing::debug!(%peer, "request header not complete in time: closed");
                    return;
                }
                Some(Overdue::Idle) if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                    // One more idle period to finish writing, then it is dropped.
                    activity.set(IDLE);
                }
                // Idle and already closing: the peer reads nothing; drop it.
                Some(Overdue::Idle) => return,
                None => {}
            },
            Ok(()) = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

const IDLE: u8 = 0;
const HEADER: u8 = 1;
const BUSY: u8 = 2;

enum Overdue {
    Header,
    Idle,
}

/// Where a connection is: between requests (idle), receiving a request header, or serving a
/// request; and since when.
struct Activity {
    base: Instant,
    state: AtomicU8,
    since_ms: AtomicU64,
    changed: Notify,
}

impl Activity {
    /// A new connection is waiting for its first request header: it gets the header
    /// timeout, not the idle one.
    fn new() -> Self {
        Self {
            base: Instant::now(),
            state: AtomicU8::new(HEADER),
            since_ms: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn set(&self, state: u8) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::Release);
        self.state.store(state, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: between requests they start one.
    fn read_some(&self) {
        if self.state.load(Ordering::Acquire) == IDLE {
            self.set(HEADER);
        }
    }

    fn since(&self) -> Instant {
        self.base + Duration::from_millis(self.since_ms.load(Ordering::Acquire))
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.state.load(Ordering::Acquire) {
            IDLE => Some(self.since() + limits.idle_timeout),
            HEADER => Some(self.since() + limits.header_read_timeout),
            _ => None,
        }
    }

    fn overdue(&self, limits: &Limits) -> Option<Overdue> {
        let deadline = self.deadline(limits)?;
        if Instant::now() < deadline {
            return None;
        }
        match self.state.load(Ordering::Acquire) {
            HEADER => Some(Overdue::Header),
            IDLE => Some(Overdue::Idle),
            _ => None,
        }
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Per request: the peer address, the body's deadline, and the 408 when it passed.
#[derive(Clone)]
struct PerRequest<S> {
    inner: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl<S> hyper::service::Service<Request<Incoming>> for PerRequest<S>
where
    S: Routes,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.set(BUSY);
        let expired = Arc::new(Notify::new());
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(PeerAddr(self.peer));
        let body = Deadline {
            inner: Box::pin(body),
            sleep: Box::pin(tokio::time::sleep(self.body_timeout)),
            expired: expired.clone(),
        };
        let req = Request::from_parts(parts, body);
        let mut inner = self.inner.clone();
        let activity = self.activity.clone();
        Box::pin(async move {
            // A late body stops the request where it is: still reading its body, so nothing
            // has been done with it (a handler never runs on a part of one).
            let resp = tokio::select! {
                resp = inner.call(req) => resp,
                () = expired.notified() => Ok(request_timeout()),
            };
            activity.set(IDLE);
            resp
        })
    }
}

fn request_timeout() -> Response {
    use warp::Reply;
    let mut resp = warp::reply::with_status(
        "request body not received in time",
        StatusCode::REQUEST_TIMEOUT,
    )
    .into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A request body that stops once its deadline passes (a client trickling it): it then never
/// yields again, and the request waiting on it is answered 408 instead.
pub struct Deadline<B> {
    inner: Pin<Box<B>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<Notify>,
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = self.inner.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.notify_one();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_fits_the_open_files_limit() {
        let Some(soft) = open_files_limit() else {
            return;
        };
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: soft + 1000,
        };
        let fitted = limits.fitted_to_open_files().max_connections;
        assert_eq!(fitted, soft.saturating_sub(OTHER_FILES).max(1));
        let small = Limits {
            max_connections: 2,
            ..limits
        };
        assert_eq!(small.fitted_to_open_files().max_connections, 2);
    }
}
