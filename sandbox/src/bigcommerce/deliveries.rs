//! The webhook dispatcher (spec §2.2–§2.3, `webhooks.v3.yml`): every order change is an
//! event, POSTed to every **active** hook of the store whose scope matches (exactly, or a
//! wildcard such as `store/order/*`, which covers `store/order/refund/created` too) as
//! `{scope, store_id, data, hash, created_at, producer}` with `Content-Type:
//! application/json` and the hook's custom `headers`.
//!
//! Only a 2xx counts. A failed attempt is retried after 60, 180, 300, 600, 900, 1800, 3600,
//! 7200, 21600, 50400 and 86400 s, each multiplied by the time scale (one documented second
//! is one second unless a test compresses it); after the last retry fails the hook is
//! deactivated (`is_active=false`, admin `status: deactivated`).
//!
//! Each store has one background task that sends its deliveries one at a time, the due one
//! with the oldest event first, so first attempts go out in event order; a retry waits for
//! its own time and does not hold back later events. A hook deleted or deactivated while an
//! event waits for it gets nothing more.
//!
//! [U] `hash`: BigCommerce hashes "the JSON-encoded payload data" and says the hash is equal
//! when a hook fires twice for the same event; its documented examples share one hash across
//! an order's created, updated and archived events. So here the hash is the hex SHA-1 of the
//! compact JSON of `data` alone: two events about one resource carry the same hash (only
//! `created_at`, in seconds, tells them apart), the strictest reading for the app's
//! de-duplication. Every delivery of one event (to each hook, every retry, every duplicate
//! from [`Outbox::set_duplicates`]) carries the identical body.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::Shared;
use super::state::{State, now_unix};

/// Delays before each retry, in documented seconds (spec §2.3).
pub(crate) const RETRY_SCHEDULE: [u32; 11] = [
    60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400,
];

/// One attempt to deliver an event to a hook, as
/// [`BigCommerceStandIn::webhook_deliveries`](super::BigCommerceStandIn::webhook_deliveries)
/// lists them.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub hook_id: u64,
    pub destination: String,
    pub scope: String,
    pub hash: String,
    /// `data.id` of `store/order/*` events; `data.orderId` of shipment and cart events.
    pub order_id: Option<u64>,
    /// 1 for the first attempt, 2 for the first retry, … 12 for the last.
    pub attempt: u32,
    /// The HTTP status, or why there was none (connection refused, timeout).
    pub status: Result<u16, String>,
    /// When the answer (or the error) came.
    pub at: Instant,
    /// The JSON body sent.
    pub payload: Value,
}

impl WebhookDelivery {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Ok(s) if (200..300).contains(&s))
    }
}

struct Event {
    scope: String,
    hash: String,
    order_id: Option<u64>,
    body: Value,
}

struct Job {
    /// Queue order among jobs due at the same instant.
    key: u64,
    store_hash: String,
    hook_id: u64,
    event: Arc<Event>,
    /// Attempts made so far.
    attempts: u32,
    due: Instant,
}

/// Queued deliveries, their log and the test controls. Lives in [`State`].
pub(crate) struct Outbox {
    next_key: u64,
    queued: Vec<Job>,
    held: Vec<Job>,
    hold: bool,
    in_flight: usize,
    /// Stores whose worker task is running.
    workers: HashSet<String>,
    duplicates: usize,
    time_scale: Duration,
    log: Vec<WebhookDelivery>,
    wake: Arc<Notify>,
    runtime: Option<(Handle, Weak<Shared>)>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            next_key: 1,
            queued: Vec::new(),
            held: Vec::new(),
            hold: false,
            in_flight: 0,
            workers: HashSet::new(),
            duplicates: 1,
            time_scale: Duration::from_secs(1),
            log: Vec::new(),
            wake: Arc::new(Notify::new()),
            runtime: None,
        }
    }
}

impl Outbox {
    /// Lets the outbox spawn its workers on `handle`; they reach the state through `shared`.
    pub fn attach(&mut self, handle: Handle, shared: Weak<Shared>) {
        self.runtime = Some((handle, shared));
    }

    pub fn set_time_scale(&mut self, per_second: Duration) {
        self.time_scale = per_second;
        self.wake.notify_waiters();
    }

    /// Every event is delivered `n` times (at least once) to each hook, with one hash.
    pub fn set_duplicates(&mut self, n: usize) {
        self.duplicates = n.max(1);
    }

    /// While held, new events wait; releasing sends them in order (or reversed).
    pub fn set_hold(&mut self, hold: bool) {
        if hold {
            self.hold = true;
        } else {
            self.release(false);
        }
    }

    /// Releases held events, the newest first.
    pub fn release(&mut self, reversed: bool) {
        self.hold = false;
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|j| j.key);
        if reversed {
            held.reverse();
        }
        let now = crate::clock::instant();
        let mut stores = Vec::new();
        for mut job in held {
            job.key = self.take_key();
            job.due = now;
            if !stores.contains(&job.store_hash) {
                stores.push(job.store_hash.clone());
            }
            self.queued.push(job);
        }
        for store in stores {
            self.kick(&store);
        }
    }

    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.log.clone()
    }

    /// Deliveries queued (held and waiting for a retry included) or in flight.
    pub fn pending(&self) -> usize {
        self.queued.len() + self.held.len() + self.in_flight
    }

    /// Whether every delivery queued is a retry not yet due (none in flight, none held, none
    /// due now), and how long until the first is: what a test waits for, or skips by moving
    /// the clock.
    pub fn only_retries_ahead(&self) -> Option<Duration> {
        if self.in_flight > 0 || !self.held.is_empty() {
            return None;
        }
        let now = crate::clock::instant();
        let first = self.queued.iter().map(|j| j.due).min()?;
        (first > now).then(|| first - now)
    }

    fn take_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Makes sure the store's worker runs, and wakes sleeping workers to look again.
    fn kick(&mut self, store_hash: &str) {
        self.wake.notify_waiters();
        let Some((handle, shared)) = &self.runtime else {
            return;
        };
        if self.workers.insert(store_hash.to_owned()) {
            handle.spawn(worker(store_hash.to_owned(), shared.clone()));
        }
    }
}

/// Whether a hook's scope covers an event's: equal, or a `…/*` prefix of it.
pub(crate) fn scope_matches(hook_scope: &str, event_scope: &str) -> bool {
    match hook_scope.strip_suffix('*') {
        Some(prefix) => event_scope.starts_with(prefix),
        None => hook_scope == event_scope,
    }
}

/// Records an event of `store_hash` and queues its deliveries.
pub(crate) fn emit(st: &mut State, store_hash: &str, scope: &str, data: Value) {
    let Some(store_id) = st.stores.get(store_hash).map(|s| s.spec.store_id) else {
        return;
    };
    let hooks: Vec<u64> = st
        .webhooks
        .iter()
        .filter(|h| h.store_hash == store_hash && h.is_active && scope_matches(&h.scope, scope))
        .map(|h| h.id)
        .collect();
    tracing::debug!(store_hash, scope, hooks = hooks.len(), "webhook event");
    if hooks.is_empty() {
        return;
    }
    let data_json = serde_json::to_string(&data).unwrap_or_default();
    let hash = hex::encode(sha1(data_json.as_bytes()));
    let order_id = match data.get("type").and_then(Value::as_str) {
        Some("order") => data.get("id").and_then(Value::as_u64),
        _ => data.get("orderId").and_then(Value::as_u64),
    };
    let body = json!({
        "scope": scope,
        "store_id": store_id.to_string(),
        "data": data,
        "hash": hash,
        "created_at": now_unix(),
        "producer": format!("stores/{store_hash}"),
    });
    let ob = &mut st.outbox;
    let event = Arc::new(Event {
        scope: scope.to_owned(),
        hash,
        order_id,
        body,
    });
    let now = crate::clock::instant();
    for hook_id in hooks {
        for _ in 0..ob.duplicates {
            let job = Job {
                key: ob.take_key(),
                store_hash: store_hash.to_owned(),
                hook_id,
                event: event.clone(),
                attempts: 0,
                due: now,
            };
            if ob.hold {
                ob.held.push(job);
            } else {
                ob.queued.push(job);
            }
        }
    }
    if !ob.hold {
        ob.kick(store_hash);
    }
}

/// A delivery about to be sent.
struct Sending {
    job: Job,
    destination: String,
    headers: Vec<(String, String)>,
}

enum Step {
    /// Nothing left for this store: the worker ends.
    Done,
    /// The next job is a retry due then.
    Wait(Instant),
    Send(Box<Sending>),
    /// A job was dropped (its hook is gone or inactive): look again.
    Again,
}

fn next_step(shared: &Shared, store_hash: &str) -> Step {
    let mut guard = shared.lock();
    let st = &mut *guard;
    let ob = &mut st.outbox;
    let next = ob
        .queued
        .iter()
        .enumerate()
        .filter(|(_, j)| j.store_hash == store_hash)
        .min_by_key(|(_, j)| (j.due, j.key))
        .map(|(i, j)| (i, j.due));
    let Some((idx, due)) = next else {
        ob.workers.remove(store_hash);
        return Step::Done;
    };
    if due > crate::clock::instant() {
        return Step::Wait(due);
    }
    let job = ob.queued.remove(idx);
    match st
        .webhooks
        .iter()
        .find(|h| h.id == job.hook_id && h.store_hash == job.store_hash)
    {
        Some(hook) if hook.is_active => {
            ob.in_flight += 1;
            let headers = hook
                .headers
                .iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
                .collect();
            Step::Send(Box::new(Sending {
                destination: hook.destination.clone(),
                headers,
                job,
            }))
        }
        _ => Step::Again,
    }
}

/// Records an attempt's outcome: done, queued for its next retry, or the hook deactivated.
fn finish(shared: &Shared, sending: Sending, status: Result<u16, String>) {
    let mut guard = shared.lock();
    let st = &mut *guard;
    let Sending {
        mut job,
        destination,
        ..
    } = sending;
    job.attempts += 1;
    let now = crate::clock::instant();
    let delivery = WebhookDelivery {
        hook_id: job.hook_id,
        destination,
        scope: job.event.scope.clone(),
        hash: job.event.hash.clone(),
        order_id: job.event.order_id,
        attempt: job.attempts,
        status,
        at: now,
        payload: job.event.body.clone(),
    };
    let ok = delivery.succeeded();
    let ob = &mut st.outbox;
    ob.in_flight = ob.in_flight.saturating_sub(1);
    ob.log.push(delivery);
    if ok {
        return;
    }
    match RETRY_SCHEDULE.get(job.attempts as usize - 1) {
        Some(secs) => {
            let delay = ob.time_scale.checked_mul(*secs).unwrap_or(Duration::MAX);
            job.due = now
                .checked_add(delay)
                .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
            ob.queued.push(job);
        }
        None => {
            tracing::info!(
                hook_id = job.hook_id,
                "webhook deactivated after the last retry"
            );
            if let Some(hook) = st
                .webhooks
                .iter_mut()
                .find(|h| h.id == job.hook_id && h.store_hash == job.store_hash)
            {
                hook.is_active = false;
                hook.deactivated = true;
                hook.updated_at = now_unix();
            }
        }
    }
}

async fn send(http: &reqwest::Client, sending: &Sending) -> Result<u16, String> {
    let mut req = http.post(&sending.destination);
    for (k, v) in &sending.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let body = serde_json::to_vec(&sending.job.event.body).unwrap_or_default();
    req.header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Sends one store's deliveries until none is left.
async fn worker(store_hash: String, shared: Weak<Shared>) {
    let Some(wake) = shared.upgrade().map(|s| s.lock().outbox.wake.clone()) else {
        return;
    };
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(strong) = shared.upgrade() else {
            return;
        };
        match next_step(&strong, &store_hash) {
            Step::Done => return,
            Step::Again => {}
            Step::Wait(due) => {
                drop(strong);
                // `due` is on the services' clock, which may jump ahead meanwhile.
                let wait = due.saturating_duration_since(crate::clock::instant());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = crate::clock::jumped() => {}
                    _ = &mut notified => {}
                }
            }
            Step::Send(sending) => {
                let http = strong.http.clone();
                drop(strong);
                let status = send(&http, &sending).await;
                if status.is_err() {
                    tracing::debug!(dest = %sending.destination, ?status, "webhook delivery failed");
                }
                let Some(strong) = shared.upgrade() else {
                    return;
                };
                finish(&strong, *sending, status);
            }
        }
    }
}

/// SHA-1 (FIPS 180-4); only for the webhook `hash`, which BigCommerce defines as SHA-1.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hv, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hv = hv.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{scope_matches, sha1};

    #[test]
    fn sha1_matches_the_fips_test_vectors() {
        assert_eq!(
            hex::encode(sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex::encode(sha1(&[b'a'; 1000])),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }

    #[test]
    fn wildcards_cover_every_scope_under_them() {
        assert!(scope_matches("store/order/*", "store/order/created"));
        assert!(scope_matches("store/order/*", "store/order/refund/created"));
        assert!(!scope_matches("store/order/*", "store/shipment/created"));
        assert!(scope_matches(
            "store/shipment/created",
            "store/shipment/created"
        ));
        assert!(!scope_matches("store/order/created", "store/order/updated"));
    }
}
