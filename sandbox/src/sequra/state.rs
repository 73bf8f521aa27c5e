//! The stand-in's state: accounts, orders, delivery reports, store integrations, recorded
//! requests and the failure switches. Guarded by one `std::sync::Mutex`, never held across
//! an `.await`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{AccountSpec, MerchantSpec, Notification, OrderRecord, RecordedRequest};

/// One of the two environments every account belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Env {
    Sandbox,
    Live,
}

impl Env {
    pub fn parse(s: &str) -> Option<Env> {
        match s {
            "sandbox" => Some(Env::Sandbox),
            "live" => Some(Env::Live),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Env::Sandbox => "sandbox",
            Env::Live => "live",
        }
    }
}

/// One of seQura's two deployments (spec §1.1), each with both environments: seQura's
/// API under `{base}/{env}/`, SVEA's under `{base}/svea/{env}/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deployment {
    Sequra,
    Svea,
}

impl Deployment {
    pub const ALL: [Deployment; 2] = [Deployment::Sequra, Deployment::Svea];

    /// The `id` of `GET deployments`.
    pub fn parse(s: &str) -> Option<Deployment> {
        match s {
            "sequra" => Some(Deployment::Sequra),
            "svea" => Some(Deployment::Svea),
            _ => None,
        }
    }

    /// The `id` of `GET deployments`, also the `realm` of its merchants' credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Sequra => "sequra",
            Deployment::Svea => "svea",
        }
    }

    /// The `name` of `GET deployments`.
    pub fn name(self) -> &'static str {
        match self {
            Deployment::Sequra => "seQura",
            Deployment::Svea => "SVEA",
        }
    }

    /// The path prefix of its hosts under the stand-in's base URL: seQura's URLs predate
    /// SVEA's and stay where they were.
    pub fn prefix(self) -> &'static str {
        match self {
            Deployment::Sequra => "",
            Deployment::Svea => "svea/",
        }
    }
}

/// One API host: a deployment's environment (`sandbox.sequrapi.com`,
/// `next-sandbox.sequra.svea.com`, …). Accounts, orders and store integrations belong to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Host {
    pub deployment: Deployment,
    pub env: Env,
}

/// Where an order stands at seQura.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderState {
    Solicited,
    OnHold,
    Confirmed,
    Cancelled,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Solicited => "solicited",
            OrderState::OnHold => "on_hold",
            OrderState::Confirmed => "confirmed",
            OrderState::Cancelled => "cancelled",
        }
    }
}

pub(crate) struct Order {
    pub uuid: String,
    /// The host it was solicited on; no other host knows it.
    pub host: Host,
    /// The account (username) that solicited it.
    pub username: String,
    pub merchant_ref: String,
    pub state: OrderState,
    pub order_ref_1: Option<String>,
    pub order_ref_2: Option<String>,
    /// `cart.order_total_with_tax` of the solicitation.
    pub amount: i64,
    /// The `order` object of `POST orders`, verbatim.
    pub solicited: Value,
    pub last_put: Option<Value>,
    pub shipped_cart: Option<Value>,
    pub unshipped_cart: Option<Value>,
    pub updates: Vec<Value>,
    /// Every accepted `PUT`, in the order received: see [`OrderRecord::puts`].
    pub puts: Vec<String>,
    /// Set when the shopper completed the form (with the product and campaign used).
    pub completed: Option<(String, Option<String>)>,
    /// The last `sq_state` notified (`approved` | `needs_review` | `cancelled`) and since when.
    pub sq_state: Option<(String, Instant)>,
    /// Cancelled by an Order Update with both carts empty (still reachable by `order_ref_1`).
    pub cancelled_by_update: bool,
    pub notifications: Vec<Notification>,
}

impl Order {
    pub fn record(&self) -> OrderRecord {
        OrderRecord {
            uuid: self.uuid.clone(),
            deployment: self.host.deployment.as_str().to_owned(),
            environment: self.host.env.as_str().to_owned(),
            username: self.username.clone(),
            merchant_ref: self.merchant_ref.clone(),
            state: self.state.as_str().to_owned(),
            order_ref_1: self.order_ref_1.clone(),
            solicited: self.solicited.clone(),
            last_put: self.last_put.clone(),
            shipped_cart: self.shipped_cart.clone(),
            unshipped_cart: self.unshipped_cart.clone(),
            updates: self.updates.clone(),
            puts: self.puts.clone(),
            product: self.completed.as_ref().map(|(p, _)| p.clone()),
            campaign: self.completed.as_ref().and_then(|(_, c)| c.clone()),
            sq_state: self.sq_state.as_ref().map(|(s, _)| s.clone()),
            notifications: self.notifications.clone(),
        }
    }

    /// A string member of the solicited order, e.g. `("merchant", "notify_url")`.
    pub fn solicited_str(&self, object: &str, key: &str) -> Option<String> {
        self.solicited
            .get(object)
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// A `POST store_integrations` the stand-in accepted.
#[derive(Clone, Debug)]
pub struct StoreIntegration {
    pub id: u64,
    /// `sequra` or `svea`.
    pub deployment: String,
    pub environment: String,
    pub username: String,
    /// The `Sequra-Merchant-Id` header sent with it, if any.
    pub merchant_id: Option<String>,
    /// The `store_integration` object, verbatim.
    pub body: Value,
    /// Set by `DELETE store_integrations/{webhook_url}`.
    pub deleted: bool,
}

impl StoreIntegration {
    /// `store_integration.webhook_url`.
    pub fn webhook_url(&self) -> &str {
        self.body
            .get("webhook_url")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `store_integration.capabilities`.
    pub fn capabilities(&self) -> Vec<String> {
        self.body
            .get("capabilities")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `storeId` query value of the webhook URL.
    pub fn store_id(&self) -> Option<String> {
        url::Url::parse(self.webhook_url()).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "storeId")
                .map(|(_, v)| v.into_owned())
        })
    }
}

/// An answer injected into the next matching API calls (test control).
pub(crate) struct FailRule {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub remaining: usize,
}

pub(crate) struct State {
    pub accounts: Vec<(Host, AccountSpec)>,
    pub orders: Vec<Order>,
    pub delivery_reports: Vec<(Deployment, Value)>,
    pub integrations: Vec<StoreIntegration>,
    /// Answers injected into the next matching API calls (test control).
    pub failures: Vec<FailRule>,
    pub requests: Vec<RecordedRequest>,
    pub outage: bool,
    /// `GET deployments` answers 500 (test control).
    pub deployments_outage: bool,
    pub latency: Duration,
    /// Delay between handling an API call and answering it (test control).
    pub answer_delay: Duration,
    pub prefixed: bool,
    pub review_delay: Duration,
    /// Order updates refused with 409 and this message, by `order_ref_1` (test control).
    pub refused_updates: Vec<(String, String)>,
    /// `GET …/assets/sequra-checkout.min.js` received (304s included).
    pub asset_requests: u64,
}

impl State {
    pub fn new() -> Self {
        State {
            accounts: Vec::new(),
            orders: Vec::new(),
            delivery_reports: Vec::new(),
            integrations: Vec::new(),
            failures: Vec::new(),
            requests: Vec::new(),
            outage: false,
            deployments_outage: false,
            latency: Duration::ZERO,
            answer_delay: Duration::ZERO,
            prefixed: false,
            review_delay: Duration::ZERO,
            refused_updates: Vec::new(),
            asset_requests: 0,
        }
    }

    pub fn account(&self, host: Host, username: &str) -> Option<&AccountSpec> {
        self.accounts
            .iter()
            .find(|(h, a)| *h == host && a.username == username)
            .map(|(_, a)| a)
    }

    /// The merchant `merchant_ref` of the account, if it owns it.
    pub fn merchant(
        &self,
        host: Host,
        username: &str,
        merchant_ref: &str,
    ) -> Option<&MerchantSpec> {
        self.account(host, username)?
            .merchants
            .iter()
            .find(|m| m.merchant_ref == merchant_ref)
    }

    /// Consumes one injected answer matching the call, if any: its status.
    pub fn take_failure(&mut self, method: &str, path: &str) -> Option<u16> {
        let idx = self.failures.iter().position(|f| {
            f.remaining > 0
                && f.method.eq_ignore_ascii_case(method)
                && path.contains(f.path_contains.as_str())
        })?;
        let rule = &mut self.failures[idx];
        rule.remaining -= 1;
        let status = rule.status;
        if rule.remaining == 0 {
            self.failures.remove(idx);
        }
        Some(status)
    }

    pub fn order(&self, uuid: &str) -> Option<&Order> {
        self.orders.iter().find(|o| o.uuid == uuid)
    }

    pub fn order_mut(&mut self, uuid: &str) -> Option<&mut Order> {
        self.orders.iter_mut().find(|o| o.uuid == uuid)
    }
}

/// 32 lowercase hex characters derived from `seed` (stable per merchant, so a restarted
/// stand-in answers the same credentials).
pub(crate) fn hex_digest(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    hex::encode(&digest[..16])
}

/// The `merchants/credentials` object of one merchant (spec §2.1); its `realm` is its
/// deployment's id (set when its account is added).
pub(crate) fn credentials_json(m: &MerchantSpec) -> Value {
    json!({
        "ref": m.merchant_ref,
        "name": null,
        "country": m.country,
        "allowed_countries": [m.country],
        "currency": m.currency,
        "assets_key": &hex_digest(&format!("assets:{}", m.merchant_ref))[..10],
        "contract_options": m.contract_options,
        "extra_information": {"type": "regular", "phone_number": ""},
        "verify_signature": false,
        "signature_secret": hex_digest(&format!("signature:{}", m.merchant_ref)),
        "confirmation_path": "default",
        "realm": m.realm,
    })
}
