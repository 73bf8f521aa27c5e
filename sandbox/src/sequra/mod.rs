//! Stateful seQura stand-in for tests and `sequra-bc demo`: the merchant API of both
//! deployments (spec §1.1), each in both environments, on one loopback server — seQura's at
//! `{base}/sandbox/…` and `{base}/live/…`, SVEA's at `{base}/svea/sandbox/…` and
//! `{base}/svea/live/…` — each host with its own accounts, merchant refs, orders, widget
//! script and back office; the unauthenticated `GET deployments` on seQura's live host
//! (`{base}/live/deployments`, also `{base}/deployments`); the identification form; and the
//! callbacks seQura makes to the shop (IPN, events webhook) when a shopper completes the form.
//!
//! It enforces the contract in `spec/sequra-api.md` (§14 is the summary): whatever seQura
//! would refuse, it refuses with seQura's status and body. Choices where the contract is
//! silent are marked [U] where they are made.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use sequra_bc_sandbox::sequra::{SequraStandIn, ShopperProfile};
//! let sq = SequraStandIn::start(([127, 0, 0, 1], 0).into()).await?;
//! // configure the app with sandbox_url = sq.sandbox_url(), DEMO_USERNAME / DEMO_PASSWORD …
//! # let uuid = "";
//! let outcome = sq.complete_form(uuid, "i1", None, ShopperProfile::Approve).await?;
//! # let _ = outcome; Ok(()) }
//! ```

mod api;
mod form;
mod integrations;
mod methods;
mod notify;
mod respond;
mod state;
mod validate;
mod widgets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use url::Url;
use warp::http::Method;

use super::common::{self, Refusal, ServerGuard};
use respond::Resp;
use state::{Deployment, Env, Host, State};

pub(crate) use super::common::Incoming;
pub use super::common::RecordedRequest;
pub use integrations::ConfigurationAnswer;
pub use state::StoreIntegration;

/// The preloaded sandbox account (spec §13.2): merchants `dummy_automated_tests` (ES),
/// `dummy_automated_tests_fr`, `_it` and `_pt`.
pub const DEMO_USERNAME: &str = "sequra-demo";
pub const DEMO_PASSWORD: &str = "sandbox-demo-password";
/// The preloaded sandbox services account (password [`DEMO_PASSWORD`]): merchant
/// `dummy_services_automated_tests` (ES) with the services contract options.
pub const SERVICES_USERNAME: &str = "sequra-services-demo";
/// A second preloaded sandbox account (password [`DEMO_PASSWORD`]), for a second store: its
/// own merchant ref, [`DEMO2_MERCHANT_ES`] (ES). Two stores of one installation never share
/// a merchant ref (the app refuses it: both number their orders from 100).
pub const DEMO2_USERNAME: &str = "sequra-demo-2";
/// The preloaded live account: merchant `demo_live_es` (ES).
pub const LIVE_USERNAME: &str = "sequra-live-demo";
pub const LIVE_PASSWORD: &str = "live-demo-password";
/// The preloaded SVEA sandbox account (password [`DEMO_PASSWORD`]), on SVEA's sandbox host
/// only ([`SequraStandIn::svea_sandbox_url`]): merchants [`DEMO_SVEA_MERCHANT_IT`] and
/// [`DEMO_SVEA_MERCHANT_PT`].
pub const DEMO_SVEA_USERNAME: &str = "svea-demo";
/// The preloaded SVEA live account (password [`LIVE_PASSWORD`]), on SVEA's live host only:
/// merchant [`LIVE_SVEA_MERCHANT`] (IT).
pub const LIVE_SVEA_USERNAME: &str = "svea-live-demo";

/// Merchant refs of the preloaded accounts.
pub const DEMO_MERCHANT_ES: &str = "dummy_automated_tests";
pub const DEMO_MERCHANT_FR: &str = "dummy_automated_tests_fr";
pub const DEMO_MERCHANT_IT: &str = "dummy_automated_tests_it";
pub const DEMO_MERCHANT_PT: &str = "dummy_automated_tests_pt";
pub const SERVICES_MERCHANT: &str = "dummy_services_automated_tests";
/// The second demo store's merchant ref ([`DEMO2_USERNAME`]).
pub const DEMO2_MERCHANT_ES: &str = "dummy_automated_tests_2";
pub const LIVE_MERCHANT: &str = "demo_live_es";
/// Merchant refs of the SVEA accounts.
pub const DEMO_SVEA_MERCHANT_IT: &str = "svea_automated_tests_it";
pub const DEMO_SVEA_MERCHANT_PT: &str = "svea_automated_tests_pt";
pub const LIVE_SVEA_MERCHANT: &str = "svea_demo_live_it";

/// One merchant ref of an account (one per country).
#[derive(Clone, Debug)]
pub struct MerchantSpec {
    pub merchant_ref: String,
    /// ISO 3166-1 alpha-2, e.g. `ES`.
    pub country: String,
    /// `EUR`.
    pub currency: String,
    /// E.g. `services`, `allow_first_instalment_delay`, `with_registration` (spec §2.1).
    pub contract_options: Vec<String>,
    /// `sequra` or `svea`: set to its account's deployment when the account is added
    /// (the credentials' `realm` is the deployment that answers them).
    pub realm: String,
    /// Payment-method categories in the §5 shape (`GET merchants/{ref}/payment_methods`).
    pub methods: Vec<Value>,
}

impl MerchantSpec {
    /// A merchant with EUR, no contract options, realm `sequra` (until added to an SVEA
    /// account) and
    /// [`SequraStandIn::default_methods`] of its country.
    pub fn new(merchant_ref: &str, country: &str) -> Self {
        MerchantSpec {
            merchant_ref: merchant_ref.to_owned(),
            country: country.to_owned(),
            currency: "EUR".to_owned(),
            contract_options: Vec::new(),
            realm: "sequra".to_owned(),
            methods: methods::defaults(country),
        }
    }
}

/// A seQura account: HTTP Basic credentials of one environment of one deployment (see
/// [`SequraStandIn::add_account_on`]) owning merchant refs.
#[derive(Clone)]
pub struct AccountSpec {
    /// `sandbox` or `live`.
    pub environment: String,
    pub username: String,
    pub password: String,
    pub merchants: Vec<MerchantSpec>,
}

impl std::fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSpec")
            .field("environment", &self.environment)
            .field("username", &self.username)
            .field("password", &"***")
            .field("merchants", &self.merchants)
            .finish()
    }
}

/// One callback seQura made to the shop.
#[derive(Clone, Debug)]
pub struct Notification {
    /// `ipn` (to `merchant.notify_url`) or `event` (to `merchant.events_webhook.url`).
    pub kind: String,
    /// `sq_state` of an IPN, `event` of an events webhook.
    pub state: String,
    pub url: String,
    /// The form fields sent, in order.
    pub fields: Vec<(String, String)>,
    /// The shop's HTTP status; 0 when it did not answer (connection error or timeout).
    pub status: u16,
}

/// An order as seQura holds it.
#[derive(Clone, Debug)]
pub struct OrderRecord {
    pub uuid: String,
    /// `sequra` or `svea`: the deployment whose host it was solicited on.
    pub deployment: String,
    /// `sandbox` or `live`.
    pub environment: String,
    /// The account that solicited it.
    pub username: String,
    pub merchant_ref: String,
    /// `solicited` | `on_hold` | `confirmed` | `cancelled`.
    pub state: String,
    pub order_ref_1: Option<String>,
    /// The `order` object of `POST orders`, verbatim.
    pub solicited: Value,
    /// The `order` object of the last accepted `PUT orders/{uuid}`.
    pub last_put: Option<Value>,
    pub shipped_cart: Option<Value>,
    pub unshipped_cart: Option<Value>,
    /// The `order` objects of every accepted Order Update, in order.
    pub updates: Vec<Value>,
    /// Every accepted `PUT` about this order, in the order seQura received them: the state
    /// a `PUT orders/{uuid}` set (`on_hold` or `confirmed`), or `update` for an Order Update
    /// (`PUT merchants/{ref}/orders/{order_ref_1}`). Refused ones are not listed.
    pub puts: Vec<String>,
    /// The product and campaign the shopper completed the form with.
    pub product: Option<String>,
    pub campaign: Option<String>,
    /// The last `sq_state` seQura reached: `approved` | `needs_review` | `cancelled`.
    pub sq_state: Option<String>,
    pub notifications: Vec<Notification>,
}

impl OrderRecord {
    /// Whether a confirmation (`PUT orders/{uuid}` with any state) came after an Order
    /// Update: what the shop confirms then is the cart it solicited, older than the update.
    pub fn confirmed_after_update(&self) -> bool {
        self.puts
            .iter()
            .skip_while(|p| p.as_str() != "update")
            .any(|p| p != "update")
    }
}

/// Who fills in the identification form (spec §13.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShopperProfile {
    /// Any ordinary shopper: approved at once.
    Approve,
    /// Names "Review Test Approve": on hold, then approved.
    ReviewApprove,
    /// Names "Review Test Cancel": on hold, then cancelled.
    ReviewCancel,
}

impl ShopperProfile {
    /// `approve` | `review_approve` | `review_cancel`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShopperProfile::Approve => "approve",
            ShopperProfile::ReviewApprove => "review_approve",
            ShopperProfile::ReviewCancel => "review_cancel",
        }
    }

    /// Parses [`Self::as_str`] (and the CamelCase variant names).
    pub fn parse(s: &str) -> Option<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "approve" => Some(ShopperProfile::Approve),
            "review_approve" | "reviewapprove" | "review_test_approve" => {
                Some(ShopperProfile::ReviewApprove)
            }
            "review_cancel" | "reviewcancel" | "review_test_cancel" => {
                Some(ShopperProfile::ReviewCancel)
            }
            _ => None,
        }
    }

    /// The profile seQura's sandbox derives from the shopper's names.
    pub fn for_names(given_names: &str, surnames: &str) -> Self {
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        match (norm(given_names).as_str(), norm(surnames).as_str()) {
            ("review test approve", "review test approve") => ShopperProfile::ReviewApprove,
            ("review test cancel", "review test cancel") => ShopperProfile::ReviewCancel,
            _ => ShopperProfile::Approve,
        }
    }
}

/// What [`SequraStandIn::complete_form`] delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpnOutcome {
    /// `(kind, sq_state or event, shop status)`: kind `ipn` or `event`; status 0 when the
    /// shop did not answer.
    pub deliveries: Vec<(String, String, u16)>,
}

/// The stand-in's state, base URL and HTTP client (for IPNs and events webhooks).
pub(crate) type Shared = common::Shared<State>;

impl Shared {
    /// A host's API base: `{base}/{env}/` (seQura), `{base}/svea/{env}/` (SVEA).
    fn host_url(&self, host: Host) -> Url {
        self.base_url
            .join(&format!(
                "{}{}/",
                host.deployment.prefix(),
                host.env.as_str()
            ))
            .unwrap_or_else(|_| self.base_url.clone())
    }

    /// A host's `assets_base_url`: `{api base}assets/`.
    fn assets_url(&self, host: Host) -> Url {
        let api = self.host_url(host);
        api.join("assets/").unwrap_or(api)
    }

    /// `{base}/_control/orders/{uuid}/complete`, where the form posts.
    fn control_url(&self, uuid: &str) -> Url {
        self.base_url
            .join(&format!("_control/orders/{uuid}/complete"))
            .unwrap_or_else(|_| self.base_url.clone())
    }
}

/// Handle to a running stand-in. Cheap to clone.
///
/// The server stops when the last handle is dropped, or at once with [`Self::shutdown`].
#[derive(Clone)]
pub struct SequraStandIn {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
}

/// The preloaded accounts and the deployment of each.
fn preloaded_accounts() -> Vec<(&'static str, AccountSpec)> {
    let sequra = |spec| ("sequra", spec);
    vec![
        sequra(AccountSpec {
            environment: "sandbox".to_owned(),
            username: DEMO_USERNAME.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            merchants: vec![
                MerchantSpec::new(DEMO_MERCHANT_ES, "ES"),
                MerchantSpec::new(DEMO_MERCHANT_FR, "FR"),
                MerchantSpec::new(DEMO_MERCHANT_IT, "IT"),
                MerchantSpec::new(DEMO_MERCHANT_PT, "PT"),
            ],
        }),
        sequra(AccountSpec {
            environment: "sandbox".to_owned(),
            username: DEMO2_USERNAME.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            merchants: vec![MerchantSpec::new(DEMO2_MERCHANT_ES, "ES")],
        }),
        sequra(AccountSpec {
            environment: "sandbox".to_owned(),
            username: SERVICES_USERNAME.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            merchants: vec![MerchantSpec {
                contract_options: [
                    "services",
                    "allow_first_instalment_delay",
                    "with_registration",
                    "allow_multiple_services_per_order",
                ]
                .map(str::to_owned)
                .to_vec(),
                ..MerchantSpec::new(SERVICES_MERCHANT, "ES")
            }],
        }),
        sequra(AccountSpec {
            environment: "live".to_owned(),
            username: LIVE_USERNAME.to_owned(),
            password: LIVE_PASSWORD.to_owned(),
            merchants: vec![MerchantSpec::new(LIVE_MERCHANT, "ES")],
        }),
        (
            "svea",
            AccountSpec {
                environment: "sandbox".to_owned(),
                username: DEMO_SVEA_USERNAME.to_owned(),
                password: DEMO_PASSWORD.to_owned(),
                merchants: vec![
                    MerchantSpec::new(DEMO_SVEA_MERCHANT_IT, "IT"),
                    MerchantSpec::new(DEMO_SVEA_MERCHANT_PT, "PT"),
                ],
            },
        ),
        (
            "svea",
            AccountSpec {
                environment: "live".to_owned(),
                username: LIVE_SVEA_USERNAME.to_owned(),
                password: LIVE_PASSWORD.to_owned(),
                merchants: vec![MerchantSpec::new(LIVE_SVEA_MERCHANT, "IT")],
            },
        ),
    ]
}

impl SequraStandIn {
    /// Binds `listen` (port 0 picks a free port) and serves in a spawned task, preloaded with
    /// the demo, services and live accounts of seQura and the demo and live accounts of SVEA.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<Self> {
        let common::Bound {
            listener,
            addr,
            base_url,
        } = common::bind(listen).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let shared = Arc::new(Shared::new(State::new(), base_url, http));

        let guard = Arc::new(ServerGuard::serve(
            listener,
            shared.clone(),
            dispatch,
            refused,
        ));
        tracing::info!(%addr, "seQura stand-in listening");
        let standin = SequraStandIn { shared, guard };
        for (deployment, account) in preloaded_accounts() {
            standin.add_account_on(deployment, account);
        }
        Ok(standin)
    }

    /// Stops the server (for every clone of this handle) and waits up to 5 s for it.
    pub async fn shutdown(self) {
        self.guard.shutdown().await;
    }

    /// `http://127.0.0.1:PORT/`: `/deployments`, both deployments' hosts and the control
    /// routes.
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// `{base}/sandbox/`: seQura's sandbox API base (`sandbox.sequrapi.com`).
    pub fn sandbox_url(&self) -> Url {
        self.shared.host_url(host(Deployment::Sequra, Env::Sandbox))
    }

    /// `{base}/live/`: seQura's live API base (`live.sequrapi.com`).
    pub fn live_url(&self) -> Url {
        self.shared.host_url(host(Deployment::Sequra, Env::Live))
    }

    /// `{base}/live/deployments`: `GET deployments` where seQura's library reads it, on
    /// seQura's live API base, no authentication (spec §1.1). See
    /// [`Self::set_deployments_outage`].
    pub fn deployments_url(&self) -> Url {
        let live = self.live_url();
        live.join("deployments").unwrap_or(live)
    }

    /// `{base}/svea/sandbox/`: SVEA's sandbox API base (`next-sandbox.sequra.svea.com`).
    pub fn svea_sandbox_url(&self) -> Url {
        self.shared.host_url(host(Deployment::Svea, Env::Sandbox))
    }

    /// `{base}/svea/live/`: SVEA's live API base (`live.sequra.svea.com`).
    pub fn svea_live_url(&self) -> Url {
        self.shared.host_url(host(Deployment::Svea, Env::Live))
    }

    /// `{base}/svea/sandbox/assets/`: SVEA's sandbox `assets_base_url`.
    pub fn svea_assets_base_url(&self) -> Url {
        self.shared.assets_url(host(Deployment::Svea, Env::Sandbox))
    }

    /// `{base}/svea/live/assets/`: SVEA's live `assets_base_url`.
    pub fn svea_live_assets_base_url(&self) -> Url {
        self.shared.assets_url(host(Deployment::Svea, Env::Live))
    }

    /// The API base of `deployment` (`sequra` | `svea`) in `env` (`sandbox` | `live`), as
    /// `GET deployments` lists it.
    ///
    /// # Panics
    /// On any other deployment or environment.
    pub fn api_url(&self, deployment: &str, env: &str) -> Url {
        self.shared.host_url(parse_host(deployment, env))
    }

    /// The `assets_base_url` of `deployment` in `env`, as `GET deployments` lists it.
    ///
    /// # Panics
    /// On any other deployment or environment.
    pub fn assets_url_of(&self, deployment: &str, env: &str) -> Url {
        self.shared.assets_url(parse_host(deployment, env))
    }

    /// `{base}/sandbox/assets/`: the sandbox `assets_base_url` (`sandbox.sequracdn.com/assets/`),
    /// as `/deployments` gives it; seQura's widget script is
    /// `{assets_base_url}sequra-checkout.min.js`. See [`Self::asset_requests`].
    pub fn assets_base_url(&self) -> Url {
        self.env_assets(Env::Sandbox)
    }

    /// `{base}/live/assets/`: the live `assets_base_url`.
    pub fn live_assets_base_url(&self) -> Url {
        self.env_assets(Env::Live)
    }

    /// The `assets_key` of a merchant ref's credentials (the `assetKey` of
    /// `SequraConfiguration`), in whichever environment has it.
    pub fn assets_key(&self, merchant_ref: &str) -> Option<String> {
        let st = self.shared.lock();
        st.accounts
            .iter()
            .flat_map(|(_, a)| &a.merchants)
            .find(|m| m.merchant_ref == merchant_ref)
            .and_then(|m| {
                state::credentials_json(m)["assets_key"]
                    .as_str()
                    .map(str::to_owned)
            })
    }

    fn env_assets(&self, env: Env) -> Url {
        self.shared.assets_url(host(Deployment::Sequra, env))
    }

    /// How many times seQura's widget script (`…/assets/sequra-checkout.min.js`, any
    /// deployment or environment) was requested, 304s included, since the start or the last
    /// [`Self::clear_requests`]; a test that a page did not load it asserts 0.
    ///
    /// The script has the surface of seQura's: `Sequra.onLoad(cb)` (and the callbacks queued
    /// in `window.SequraOnLoad` before it loaded), `Sequra.refreshComponents()` and
    /// `Sequra.computeCreditAgreements({amount, product, campaign?})`. It works only when
    /// `window.SequraConfiguration.merchant` is a merchant of that host (deployment and
    /// environment) and `assetKey`
    /// its credentials' `assets_key` (and `currency`, when given, its currency); otherwise
    /// it does nothing and sets `window.__sequraStandIn = "refused"` (`"ready"` when it works).
    ///
    /// `refreshComponents()` draws every `.sequra-promotion-widget` from its `data-amount`
    /// (cents), `data-product` and `data-campaign` (none: the product's first method in its
    /// window): text `Paga en 3 plazos de 16,65 €/mes` (one payment: `Paga después: 49,95 €`;
    /// in `fr`, `it`, `pt` by `SequraConfiguration.locale`), money with the configured
    /// separators; it sets `data-rendered` (the amount used), `data-sequra-state` (`ok`,
    /// `below-minimum`, `above-maximum`, `unknown-product`, `invalid-amount`; only `ok` has
    /// text) and, when `ok`, `data-instalments` and `data-instalment-total` (cents).
    /// The instalment rules: each plan's instalment is `ceil(amount / count) + fee`; the plans
    /// are those of the stand-in's `widget_plans` (pp3: 3 free, 6 and 12 with its 3,00 €
    /// fee; sp1: 3; pp6: 6; pp9: 9; i1, pp5: one payment), inside the method's
    /// `min_amount`/`max_amount`. `computeCreditAgreements` answers `{[product]: [{
    /// instalment_count, default, instalment_amount, instalment_fee, instalment_total,
    /// grand_total, min_amount, max_amount}]}` (each money a `{value, string}`), every plan
    /// whatever the amount (as seQura's: the caller compares with `min_amount`), `{}` for a
    /// product the merchant has no widget for.
    pub fn asset_requests(&self) -> u64 {
        self.shared.lock().asset_requests
    }

    /// Adds an account to seQura's deployment, or replaces the one with the same
    /// environment and username there; see [`Self::add_account_on`].
    ///
    /// # Panics
    /// If `environment` is neither `sandbox` nor `live`.
    pub fn add_account(&self, spec: AccountSpec) {
        self.add_account_on("sequra", spec);
    }

    /// Adds an account to `deployment` (`sequra` | `svea`), or replaces the one with the same
    /// environment and username there. It exists on that deployment's host of its
    /// environment only; its merchants' `realm` becomes the deployment's id.
    ///
    /// # Panics
    /// If `deployment` is neither `sequra` nor `svea`, or `environment` neither `sandbox`
    /// nor `live`.
    pub fn add_account_on(&self, deployment: &str, mut spec: AccountSpec) {
        let host = parse_host(deployment, &spec.environment);
        for m in &mut spec.merchants {
            m.realm = host.deployment.as_str().to_owned();
        }
        let mut st = self.shared.lock();
        st.accounts
            .retain(|(h, a)| !(*h == host && a.username == spec.username));
        st.accounts.push((host, spec));
    }

    /// Realistic payment-method categories of a country (§5 shape): ES has `fp1`, `i1`,
    /// `pp5` (campaign `temporary`, started a week ago), `sp1` (campaign `permanente`) and
    /// `pp3`; FR, IT and PT have `pp3`; any other country a Spanish-titled `pp3`.
    pub fn default_methods(country: &str) -> Vec<Value> {
        methods::defaults(country)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.asset_requests = 0;
    }

    /// While on, every API call (every host and `deployments`) answers 503 with a text
    /// body. The control routes keep working.
    pub fn set_outage(&self, on: bool) {
        self.shared.lock().outage = on;
    }

    /// While on, `GET deployments` (both paths) answers 500 with a text body; every other
    /// call works (the app must fall back to its built-in list).
    pub fn set_deployments_outage(&self, on: bool) {
        self.shared.lock().deployments_outage = on;
    }

    /// Refuses every Order Update API call for the shop order `order_ref_1` with 409 and
    /// `message` (seQura's `errors`), until [`Self::accept_updates`].
    pub fn refuse_updates(&self, order_ref_1: &str, message: &str) {
        self.shared
            .lock()
            .refused_updates
            .push((order_ref_1.to_string(), message.to_string()));
    }

    /// Stops refusing the order's updates.
    pub fn accept_updates(&self, order_ref_1: &str) {
        self.shared
            .lock()
            .refused_updates
            .retain(|(r, _)| r != order_ref_1);
    }

    /// seQura's back office of `env`, `{base}/{env}/portal` (no trailing slash): an order's
    /// page is `{portal}/orders/{uuid}`, for orders of seQura's host of `env` only.
    pub fn portal_url(&self, env: &str) -> String {
        format!("{}{env}/portal", self.base_url())
    }

    /// The back office of `deployment` (`sequra` | `svea`) in `env`:
    /// `{base}/{env}/portal` (= [`Self::portal_url`]) or `{base}/svea/{env}/portal`. An
    /// order's page is `{portal}/orders/{uuid}`, for orders of that host only.
    ///
    /// # Panics
    /// On any other deployment or environment.
    pub fn portal_url_of(&self, deployment: &str, env: &str) -> String {
        let host = parse_host(deployment, env);
        format!(
            "{}{}{}/portal",
            self.base_url(),
            host.deployment.prefix(),
            host.env.as_str()
        )
    }

    /// Delay before answering every API call.
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }

    /// Delay between handling every API call and answering it: what a call did is done even
    /// when its caller is gone before the answer (a shop that dies meanwhile).
    pub fn set_answer_delay(&self, d: Duration) {
        self.shared.lock().answer_delay = d;
    }

    /// While on, IPNs echo `merchant.notification_parameters` with an `m_` prefix (as the
    /// events webhook always does); off (the default) they are echoed unprefixed (spec §6.2).
    pub fn set_prefixed_notification_parameters(&self, on: bool) {
        self.shared.lock().prefixed = on;
    }

    /// Time between the `needs_review` IPN and the review's outcome (default zero). In the
    /// real sandbox it is about a minute.
    pub fn set_review_delay(&self, d: Duration) {
        self.shared.lock().review_delay = d;
    }

    /// Every order, in solicitation order.
    pub fn orders(&self) -> Vec<OrderRecord> {
        self.shared
            .lock()
            .orders
            .iter()
            .map(state::Order::record)
            .collect()
    }

    pub fn order(&self, uuid: &str) -> Option<OrderRecord> {
        self.shared.lock().order(uuid).map(state::Order::record)
    }

    /// The `delivery_report` objects accepted, in order (every deployment).
    pub fn delivery_reports(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.delivery_reports.iter().map(|(_, r)| r.clone()).collect()
    }

    /// The `delivery_report` objects `deployment` (`sequra` | `svea`) accepted, in order.
    pub fn delivery_reports_on(&self, deployment: &str) -> Vec<Value> {
        let st = self.shared.lock();
        st.delivery_reports
            .iter()
            .filter(|(d, _)| d.as_str() == deployment)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The store integrations registered (and whether they were deleted since), oldest
    /// first. `{base}/_control/store_integrations` shows them to a person, with a form each to
    /// send a configuration webhook.
    pub fn store_integrations(&self) -> Vec<StoreIntegration> {
        self.shared.lock().integrations.clone()
    }

    /// The store integrations still registered for the shop's store `store_id` (the
    /// `storeId` of their webhook URL), oldest first.
    pub fn active_integrations(&self, store_id: &str) -> Vec<StoreIntegration> {
        self.shared
            .lock()
            .integrations
            .iter()
            .filter(|i| !i.deleted && i.store_id().as_deref() == Some(store_id))
            .cloned()
            .collect()
    }

    /// Sends a configuration webhook as seQura does (remote-configuration spec §2): POSTs
    /// `body` (a flat JSON object with its `topic`) to the signed URL of the newest
    /// registration still active for `store_id`, and returns the shop's answer.
    ///
    /// # Errors
    /// When no registration of that store is active.
    pub async fn send_configuration(
        &self,
        store_id: &str,
        body: Value,
    ) -> anyhow::Result<ConfigurationAnswer> {
        let id = self
            .active_integrations(store_id)
            .last()
            .map(|i| i.id)
            .ok_or_else(|| anyhow::anyhow!("no store integration of {store_id} is registered"))?;
        self.shared
            .send_configuration(id, &body)
            .await
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// The next `times` API calls whose method matches and whose path contains
    /// `path_contains` are answered `status` instead of being handled: 401 as seQura's (plain
    /// text), any other error with seQura's `{"errors": [...]}`, a 2xx with `{}` and no
    /// `Location` (a registration seQura answered without saying where). Rules are consumed in
    /// insertion order; an outage ([`Self::set_outage`]) answers first.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        if times == 0 {
            return;
        }
        self.shared.lock().failures.push(state::FailRule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            status,
            remaining: times,
        });
    }

    /// How many answers set with [`Self::fail_next`] are still to be given.
    pub fn pending_failures(&self) -> usize {
        self.shared
            .lock()
            .failures
            .iter()
            .map(|f| f.remaining)
            .sum()
    }

    /// The shopper completes the identification form of order `uuid` with `product` (and
    /// `campaign`; `None` = the first offered campaign of the product), and seQura notifies
    /// the shop (spec §14.7):
    ///
    /// - `Approve`: IPN `approved`;
    /// - `ReviewApprove`: IPN `needs_review`, then (after the review delay) IPN `approved`;
    /// - `ReviewCancel`: IPN `needs_review`, then the order is cancelled and the events
    ///   webhook gets `event=cancelled` (an IPN `sq_state=cancelled` when the order has no
    ///   `events_webhook` [U]).
    ///
    /// A shop answer of 409 or 410 cancels the order and ends the sequence; so does no answer
    /// or any other non-2xx status (no retries [U]). Returns every delivery with the shop's
    /// status.
    ///
    /// # Errors
    /// When the order does not exist, was already completed, is not awaiting the form, or the
    /// product is not offered for it.
    pub async fn complete_form(
        &self,
        uuid: &str,
        product: &str,
        campaign: Option<&str>,
        profile: ShopperProfile,
    ) -> anyhow::Result<IpnOutcome> {
        let notices = self
            .shared
            .complete(uuid, product, campaign, profile, notify::FollowUp::Await)
            .await
            .map_err(|e| anyhow::anyhow!("complete_form({uuid}): {e}"))?;
        Ok(IpnOutcome {
            deliveries: notices
                .into_iter()
                .map(|n| (n.kind, n.state, n.status))
                .collect(),
        })
    }
}

fn host(deployment: Deployment, env: Env) -> Host {
    Host { deployment, env }
}

/// The host of a test's or the demo's strings; a typo there is a bug of the caller.
fn parse_host(deployment: &str, env: &str) -> Host {
    let Some(deployment) = Deployment::parse(deployment) else {
        panic!("deployment must be \"sequra\" or \"svea\", not {deployment:?}");
    };
    let Some(env) = Env::parse(env) else {
        panic!("environment must be \"sandbox\" or \"live\", not {env:?}");
    };
    host(deployment, env)
}

/// The host a request path names and the path under it: `["svea", env, rest @ ..]` is
/// SVEA's, `[env, rest @ ..]` seQura's.
fn split_host<'a, 'b>(segs: &'a [&'b str]) -> Option<(Host, &'a [&'b str])> {
    match segs {
        ["svea", env, rest @ ..] => Some((host(Deployment::Svea, Env::parse(env)?), rest)),
        [env, rest @ ..] => Some((host(Deployment::Sequra, Env::parse(env)?), rest)),
        [] => None,
    }
}

/// The answer set with [`SequraStandIn::fail_next`].
fn injected_answer(status: u16) -> Resp {
    match status {
        200..=299 => respond::json(status, &serde_json::json!({})),
        401 => respond::unauthorized(),
        500..=599 => respond::text(status, "Internal Server Error"),
        _ => respond::errors(status, &[format!("Injected failure (HTTP {status})")]),
    }
}

/// The plain-text error for a request refused before dispatch.
fn refused(refusal: Refusal) -> Resp {
    match refusal {
        Refusal::TooLarge => respond::text(413, "Request Entity Too Large"),
        Refusal::LengthRequired => respond::text(411, "Length Required"),
        Refusal::Invalid => respond::text(400, "Bad Request"),
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes one path segment (`A14%2F12345` → `A14/12345`); `+` stays `+`.
pub(crate) fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dispatch(shared: Arc<Shared>, req: Incoming) -> Resp {
    let (outage, latency) = {
        let mut st = shared.lock();
        st.requests.push(req.record());
        (st.outage, st.latency)
    };
    let segments: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();

    match segs.as_slice() {
        ["_control", rest @ ..] => return form::control(&shared, &req, rest).await,
        [] if req.method == Method::GET => return form::index(&shared),
        _ => {}
    }
    // The back office and the CDN are not the API: they answer during an API outage.
    if req.method == Method::GET {
        match split_host(&segs) {
            Some((host, ["portal", "orders", uuid])) => return portal_page(&shared, host, uuid),
            Some((host, ["assets", script])) if *script == widgets::SCRIPT => {
                return widgets::serve(&shared, &req, host);
            }
            _ => {}
        }
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if outage {
        return respond::text(503, "Service Unavailable");
    }
    let injected = shared.lock().take_failure(req.method.as_str(), &req.path);
    if let Some(status) = injected {
        return injected_answer(status);
    }
    let answer = match segs.as_slice() {
        ["deployments"] | ["live", "deployments"] if req.method == Method::GET => {
            api::deployments(&shared)
        }
        _ => match split_host(&segs) {
            Some((host, rest)) => api::handle(&shared, &req, host, rest),
            None => respond::not_found_html(),
        },
    };
    let answer_delay = shared.lock().answer_delay;
    if !answer_delay.is_zero() {
        tokio::time::sleep(answer_delay).await;
    }
    answer
}

/// A stand-in of seQura's back office order page (the portal links of the transaction log and
/// the order panel): the order's state and its carts as seQura holds them.
fn portal_page(shared: &Shared, host: Host, uuid: &str) -> Resp {
    let st = shared.lock();
    let Some(order) = st.order(uuid).filter(|o| o.host == host) else {
        return respond::not_found_html();
    };
    let cart = |name: &str, cart: Option<&Value>| {
        let rows: String = cart
            .and_then(|c| c.get("items"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        format!(
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            respond::esc(i.get("name").and_then(Value::as_str).unwrap_or("")),
                            i.get("quantity").and_then(Value::as_i64).unwrap_or(1),
                            respond::euros(
                                i.get("total_with_tax").and_then(Value::as_i64).unwrap_or(0)
                            )
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "<h2>{name}</h2><table><tr><th>Item</th><th>Qty</th><th>Total</th></tr>{rows}</table>"
        )
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>seQura order {uuid}</title>\
         </head><body><h1 data-uuid=\"{uuid}\">seQura order {uuid}</h1>\
         <p data-deployment=\"{deployment}\">{name} · merchant <b>{merchant}</b> · order <b>{ref1}</b> · state <b data-state>{state}</b></p>\
         {shipped}{unshipped}</body></html>",
        uuid = respond::esc(&order.uuid),
        deployment = order.host.deployment.as_str(),
        name = order.host.deployment.name(),
        merchant = respond::esc(&order.merchant_ref),
        ref1 = respond::esc(order.order_ref_1.as_deref().unwrap_or("")),
        state = order.state.as_str(),
        shipped = cart("Shipped", order.shipped_cart.as_ref()),
        unshipped = cart("Unshipped", order.unshipped_cart.as_ref()),
    );
    respond::html(200, body)
}
