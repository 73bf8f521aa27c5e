//! What the BigCommerce and seQura stand-ins share: the loopback listener and its
//! start/graceful-shutdown guard, the catch-all request filter ([`Incoming`]), request
//! recording ([`RecordedRequest`]), the reply builders both use, and HTML escaping.
//!
//! Contracts that differ between the two (error bodies, JSON content type, extra headers)
//! stay in each stand-in's `respond` module.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};

/// A finished response.
pub(crate) type Resp = warp::reply::Response;

/// Largest request body accepted (the real services' limits are larger; no app request
/// comes close).
pub(crate) const MAX_BODY: u64 = 1024 * 1024;

/// Locks a mutex, recovering the data of a poisoned one.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a stand-in's handlers share: its state behind one mutex, its base URL and the HTTP
/// client for the callbacks it makes to the app.
pub(crate) struct Shared<S> {
    state: Mutex<S>,
    pub base_url: Url,
    pub http: reqwest::Client,
}

impl<S> Shared<S> {
    pub fn new(state: S, base_url: Url, http: reqwest::Client) -> Self {
        Shared {
            state: Mutex::new(state),
            base_url,
            http,
        }
    }

    /// Never held across `.await`.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }
}

/// A bound listener, before it serves.
pub(crate) struct Bound {
    pub listener: TcpListener,
    /// The bound address; an unspecified IP is replaced by `127.0.0.1`.
    pub addr: SocketAddr,
    /// `http://{addr}/`.
    pub base_url: Url,
}

/// Binds `listen` (port 0 picks a free port).
pub(crate) async fn bind(listen: SocketAddr) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind(listen).await?;
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base_url = Url::parse(&format!("http://{addr}/"))?;
    Ok(Bound {
        listener,
        addr,
        base_url,
    })
}

/// The serving task of a stand-in. Dropping it asks the server to stop gracefully.
pub(crate) struct ServerGuard {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ServerGuard {
    /// Serves [`routes`] on `listener` in a spawned task until stopped.
    pub fn serve<S, D, Fut>(
        listener: TcpListener,
        shared: Arc<S>,
        dispatch: D,
        refused: fn(Refusal) -> Resp,
    ) -> Self
    where
        S: Send + Sync + 'static,
        D: Fn(Arc<S>, Incoming) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Resp> + Send + 'static,
    {
        let routes = routes(shared, dispatch, refused);
        let (tx, rx) = oneshot::channel::<()>();
        let server = warp::serve(routes).incoming(listener).graceful(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(server.run());
        ServerGuard {
            stop: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Stops the server and waits up to 5 s for it (then aborts it).
    pub async fn shutdown(&self) {
        let stop = lock(&self.stop).take();
        if let Some(tx) = stop {
            let _ = tx.send(());
        }
        let task = lock(&self.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let stop = self
            .stop
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = stop {
            let _ = tx.send(());
        }
    }
}

/// Every request: the ones [`incoming`] accepts go to `dispatch` with `shared`, the ones it
/// refuses get `refused`'s answer.
fn routes<S, D, Fut>(
    shared: Arc<S>,
    dispatch: D,
    refused: fn(Refusal) -> Resp,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone
where
    S: Send + Sync + 'static,
    D: Fn(Arc<S>, Incoming) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    incoming()
        .then(move |req: Incoming| dispatch(shared.clone(), req))
        .recover(move |rejection: warp::Rejection| async move {
            Ok::<_, Infallible>(refused(Refusal::of(&rejection)))
        })
}

/// A parsed incoming request.
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap_or_default()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The request as [`RecordedRequest`] keeps it (header values and body lossily UTF-8).
    pub fn record(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.as_str().to_owned(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// Why [`incoming`] refused a request; each stand-in answers it with its own error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 413: the body is larger than [`MAX_BODY`].
    TooLarge,
    /// 411: a body without Content-Length (chunked).
    LengthRequired,
    /// 400: anything else.
    Invalid,
}

impl Refusal {
    fn of(rejection: &warp::Rejection) -> Self {
        use warp::reject::{LengthRequired, PayloadTooLarge};
        if rejection.find::<PayloadTooLarge>().is_some() {
            Refusal::TooLarge
        } else if rejection.find::<LengthRequired>().is_some() {
            Refusal::LengthRequired
        } else {
            Refusal::Invalid
        }
    }
}

/// Every request as an [`Incoming`]: any method and path, the raw query (empty when none),
/// the headers and a body of at most [`MAX_BODY`] bytes.
///
/// `content_length_limit` requires a Content-Length: bodiless requests (GET without one)
/// take the second branch; chunked bodies are refused with 411 (`LengthRequired`), larger
/// ones with 413 (`PayloadTooLarge`): see [`Refusal`].
fn incoming() -> impl Filter<Extract = (Incoming,), Error = warp::Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let body = warp::body::content_length_limit(MAX_BODY)
        .and(warp::body::bytes())
        .or(warp::header::optional::<String>("content-length")
            .and(warp::header::optional::<String>("transfer-encoding"))
            .and_then(|cl: Option<String>, te: Option<String>| async move {
                if cl.is_none() && te.is_none() {
                    Ok(Bytes::new())
                } else {
                    Err(warp::reject::not_found())
                }
            }))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(body)
        .map(
            |method: Method,
             path: warp::path::FullPath,
             query: String,
             headers: HeaderMap,
             body: Bytes| Incoming {
                method,
                path: path.as_str().to_owned(),
                query,
                headers,
                body,
            },
        )
}

/// One request a stand-in received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The status for `code`; 500 when it is not a valid status code.
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `body` with status `code` and `content-type`.
fn typed(code: u16, content_type: &'static str, body: String) -> Resp {
    let mut resp = Resp::new(body.into());
    *resp.status_mut() = status(code);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    resp
}

/// `body` serialized, with `content_type` (each service spells its JSON type its own way).
pub(crate) fn json(code: u16, body: &Value, content_type: &'static str) -> Resp {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    typed(code, content_type, text)
}

pub(crate) fn html(code: u16, body: String) -> Resp {
    typed(code, "text/html; charset=utf-8", body)
}

pub(crate) fn text(code: u16, body: &str) -> Resp {
    typed(code, "text/plain; charset=utf-8", body.to_owned())
}

/// An empty body with status `code`.
fn empty(code: StatusCode) -> Resp {
    let mut resp = Resp::new(String::new().into());
    *resp.status_mut() = code;
    resp
}

/// An empty body with status `code` (e.g. 304).
pub(crate) fn empty_status(code: u16) -> Resp {
    empty(status(code))
}

pub(crate) fn no_content() -> Resp {
    empty(StatusCode::NO_CONTENT)
}

/// Adds a `Location` header (left out when `location` is not a valid header value).
pub(crate) fn with_location(mut resp: Resp, location: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

pub(crate) fn see_other(location: &str) -> Resp {
    with_location(empty(StatusCode::SEE_OTHER), location)
}

/// A decimal amount as BigCommerce writes it (`"12.3400"`, `12.34`, `-5`; at most four
/// decimals, spec §3.2) in ten-thousandths; `None` for anything else. The stand-ins' own reading,
/// written from the contract rather than borrowed from the app they check.
pub(crate) fn ten_thousandths(s: &str) -> Option<i64> {
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 4 {
        return None;
    }
    if unsigned.ends_with('.') {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let part: i64 = format!("{frac:0<4}").parse().ok()?;
    let value = whole.checked_mul(10_000)?.checked_add(part)?;
    Some(if negative { -value } else { value })
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Incoming, MAX_BODY, Refusal, Resp, esc, routes, see_other, ten_thousandths, text};

    #[test]
    fn amounts_read_as_bigcommerce_writes_them() {
        assert_eq!(ten_thousandths("12.3400"), Some(123_400));
        assert_eq!(ten_thousandths("12.34"), Some(123_400));
        assert_eq!(ten_thousandths("-5"), Some(-50_000));
        assert_eq!(ten_thousandths("0.0001"), Some(1));
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1.23456",
            "1e2",
            "12,34",
            "--1",
            "99999999999999999999",
        ] {
            assert_eq!(ten_thousandths(bad), None, "{bad}");
        }
    }

    async fn echo(_: Arc<()>, req: Incoming) -> Resp {
        text(
            200,
            &format!(
                "{} {}?{} {}",
                req.method,
                req.path,
                req.query,
                req.body.len()
            ),
        )
    }

    fn refused(refusal: Refusal) -> Resp {
        text(599, &format!("{refusal:?}"))
    }

    #[tokio::test]
    async fn routes_dispatch_bodies_up_to_the_limit_and_refuse_the_rest() {
        let filter = routes(Arc::new(()), echo, refused);
        let get = warp::test::request().path("/a/b").reply(&filter).await;
        assert_eq!(get.body(), "GET /a/b? 0");
        let post = warp::test::request()
            .method("POST")
            .path("/p?x=1")
            .body("hello")
            .reply(&filter)
            .await;
        assert_eq!(post.body(), "POST /p?x=1 5");
        let big = vec![b'a'; MAX_BODY as usize + 1];
        let too_large = warp::test::request()
            .method("POST")
            .path("/p")
            .body(big)
            .reply(&filter)
            .await;
        assert_eq!(too_large.body(), "TooLarge");
        let chunked = warp::test::request()
            .method("POST")
            .path("/p")
            .header("transfer-encoding", "chunked")
            .reply(&filter)
            .await;
        assert_eq!(chunked.body(), "LengthRequired");
    }

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn text_sets_status_and_plain_text_type() {
        let resp = text(404, "Not Found");
        assert_eq!(resp.status().as_u16(), 404);
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(text(1000, "x").status().as_u16(), 500);
    }

    #[test]
    fn see_other_drops_an_invalid_location() {
        let resp = see_other("/next");
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(resp.headers()["location"], "/next");
        assert!(see_other("bad\nvalue").headers().get("location").is_none());
    }
}
