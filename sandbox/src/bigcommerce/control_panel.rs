//! The control-panel simulator: what the merchant's browser and BigCommerce's servers do
//! around the app (install, load, uninstall, remove user, order App Extension), as methods
//! for tests and as small HTML pages for a person in the demo (`GET /`, `/manage/{hash}`,
//! the Orders list; each order's page and its forms are in `order_page.rs`).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use url::Url;
use warp::http::Method;

use super::commerce::fmt4;
use super::respond::{self, Resp, esc};
use super::state::{AuthCode, now_unix, random_token};
use super::{Incoming, Shared, StoreSpec, User, order_page, order_statuses};

/// `{app_url}{path}` with `path` starting with `/`.
fn app_endpoint(app_url: &Url, path: &str) -> Url {
    let base = app_url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}")).unwrap_or_else(|_| app_url.clone())
}

impl Shared {
    pub(crate) fn begin_install(&self, store_hash: &str, user: &User, external: bool) -> Url {
        let mut st = self.lock();
        assert!(
            st.stores.contains_key(store_hash),
            "begin_install: unknown store {store_hash:?}; call add_store first"
        );
        let code = random_token(16);
        let scope = st.granted_scope();
        st.codes.insert(
            code.clone(),
            AuthCode {
                store_hash: store_hash.to_owned(),
                user: user.clone(),
                scope: scope.clone(),
                issued_at: now_unix(),
                used: false,
            },
        );
        st.remember_user(store_hash, user);
        let mut url = app_endpoint(&st.cfg.app_url, "/bc/auth");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("account_uuid", &st.account_uuid);
            q.append_pair("code", &code);
            q.append_pair("context", &format!("stores/{store_hash}"));
            q.append_pair("scope", &scope);
            if external {
                q.append_pair("external_install", "1");
            }
        }
        url
    }

    pub(crate) fn signed_payload_jwt(
        &self,
        store_hash: &str,
        user: &User,
        url_path: &str,
        channel_id: Option<u64>,
    ) -> String {
        let (client_id, owner) = {
            let mut st = self.lock();
            st.remember_user(store_hash, user);
            let owner = st
                .stores
                .get(store_hash)
                .map(|s| s.spec.owner.clone())
                .unwrap_or_else(|| user.clone());
            (st.cfg.client_id.clone(), owner)
        };
        let iat = now_unix();
        let nbf = iat - 5;
        let claims = json!({
            "aud": client_id,
            "iss": "bc",
            "iat": iat,
            "nbf": nbf,
            "exp": nbf + 86_400,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": format!("stores/{store_hash}"),
            "user": {"id": user.id, "email": user.email, "locale": user.locale},
            "owner": {"id": owner.id, "email": owner.email},
            "url": url_path,
            "channel_id": channel_id,
        });
        self.mint_jwt(&claims)
    }

    pub(crate) fn mint_jwt(&self, claims: &Value) -> String {
        let secret = self.lock().cfg.client_secret.clone();
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    }

    fn callback_url(&self, path: &str, jwt: &str) -> Url {
        let mut url = app_endpoint(&self.lock().cfg.app_url, path);
        url.query_pairs_mut().append_pair("signed_payload_jwt", jwt);
        url
    }

    pub(crate) fn load_url(
        &self,
        store_hash: &str,
        user: &User,
        url_path: &str,
        channel_id: Option<u64>,
    ) -> Url {
        let jwt = self.signed_payload_jwt(store_hash, user, url_path, channel_id);
        self.callback_url("/bc/load", &jwt)
    }

    pub(crate) async fn uninstall(&self, store_hash: &str) -> anyhow::Result<u16> {
        let owner = self
            .lock()
            .stores
            .get(store_hash)
            .map(|s| s.spec.owner.clone())
            .ok_or_else(|| anyhow::anyhow!("unknown store {store_hash}"))?;
        let jwt = self.signed_payload_jwt(store_hash, &owner, "/", None);
        let url = self.callback_url("/bc/uninstall", &jwt);
        let result = self.http.get(url).send().await;
        // BigCommerce removes the app whatever the callback answered.
        self.lock().apply_uninstall(store_hash);
        Ok(result?.status().as_u16())
    }

    pub(crate) async fn remove_user(&self, store_hash: &str, user_id: u64) -> anyhow::Result<u16> {
        let user = {
            let st = self.lock();
            let store = st
                .stores
                .get(store_hash)
                .ok_or_else(|| anyhow::anyhow!("unknown store {store_hash}"))?;
            store.users.get(&user_id).cloned().unwrap_or_else(|| User {
                id: user_id,
                email: format!("user{user_id}@example.com"),
                locale: "es-ES".to_owned(),
            })
        };
        let jwt = self.signed_payload_jwt(store_hash, &user, "/", None);
        let url = self.callback_url("/bc/remove-user", &jwt);
        let result = self.http.get(url).send().await;
        if let Some(store) = self.lock().stores.get_mut(store_hash) {
            store.users.remove(&user_id);
        }
        Ok(result?.status().as_u16())
    }
}

// ---------------------------------------------------------------------------------------
// HTML pages for the demo.

const STYLE: &str = "body{margin:0;font-family:system-ui,sans-serif;color:#313440;background:#f6f7fc}\
header{background:#34313f;color:#fff;padding:.7rem 1.2rem;font-weight:600}\
.wrap{display:flex;min-height:calc(100vh - 2.6rem)}\
nav{width:13rem;background:#fff;border-right:1px solid #d9dce9;padding:1rem 0}\
nav a{display:block;padding:.5rem 1.2rem;color:#313440;text-decoration:none}\
nav a.on{background:#f0f3ff;color:#3c64f4;font-weight:600}\
main{flex:1;padding:1.2rem 1.6rem}\
.card{background:#fff;border:1px solid #d9dce9;border-radius:4px;padding:1rem 1.2rem;margin-bottom:1rem}\
button,.btn{background:#3c64f4;color:#fff;border:0;border-radius:4px;padding:.5rem .9rem;\
font-size:.95rem;cursor:pointer;text-decoration:none;display:inline-block}\
button.danger{background:#db3643}.muted{color:#8c93ad}.notice{background:#e6f7ec;border:1px solid #b7e2c4;\
padding:.6rem 1rem;border-radius:4px;margin-bottom:1rem}.notice.error{background:#fdecee;border-color:#f3b8bf}\
iframe.app{width:100%;height:80vh;border:1px solid #d9dce9;background:#fff}\
.split{display:flex;gap:1rem}.split>div{flex:1}iframe.panel{width:45%;height:80vh;border:1px solid #d9dce9}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #eee}\
form.inline{display:inline}";

pub(crate) fn layout(title: &str, store: Option<&StoreSpec>, active: &str, body: &str) -> String {
    let nav = match store {
        Some(s) => {
            let h = esc(&s.hash);
            let link = |key: &str, href: String, label: &str| {
                format!(
                    "<a href=\"{}\"{}>{}</a>",
                    esc(&href),
                    if key == active { " class=\"on\"" } else { "" },
                    esc(label)
                )
            };
            format!(
                "<nav>{}{}{}</nav>",
                link("home", "/".to_owned(), "All stores"),
                link("orders", format!("/manage/{h}/orders"), "Orders"),
                link("apps", format!("/manage/{h}"), "Apps › My Apps"),
            )
        }
        None => String::from("<nav><a class=\"on\" href=\"/\">All stores</a></nav>"),
    };
    let store_name = store
        .map(|s| format!(" · {}", esc(&s.name)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · BigCommerce (stand-in)</title><style>{STYLE}</style></head><body>\
         <header>BigCommerce control panel (stand-in){store_name}</header>\
         <div class=\"wrap\">{nav}<main>{body}</main></div></body></html>",
        esc(title),
    )
}

fn not_found_page() -> Resp {
    respond::html(
        404,
        layout(
            "Not found",
            None,
            "home",
            "<div class=\"card\"><p>There is no such page or store.</p></div>",
        ),
    )
}

/// `GET /` and everything under `/manage/{hash}`.
pub(crate) async fn page(shared: &Shared, req: &Incoming, segs: &[&str]) -> Resp {
    match (req.method.clone(), segs) {
        (Method::GET, []) => stores_page(shared),
        (_, ["manage", hash, rest @ ..]) => {
            let Some(store) = shared.lock().stores.get(*hash).map(|s| s.spec.clone()) else {
                return not_found_page();
            };
            match (req.method.clone(), rest) {
                (Method::GET, []) => apps_page(shared, &store),
                (Method::POST, ["install"]) => {
                    let url = shared.begin_install(&store.hash, &store.owner, false);
                    let frame = random_token(16);
                    shared.lock().frames.insert(frame.clone(), url.to_string());
                    respond::see_other(&format!("/manage/{}/app?frame={frame}", store.hash))
                }
                (Method::GET, ["app"]) => app_page(shared, req, &store),
                (Method::POST, ["uninstall"]) => {
                    let notice = match shared.uninstall(&store.hash).await {
                        Ok(status) => {
                            format!("seQura was uninstalled. The app answered HTTP {status}.")
                        }
                        Err(e) => {
                            format!("seQura was uninstalled, but the app could not be reached: {e}")
                        }
                    };
                    shared.lock().notices.insert(store.hash.clone(), notice);
                    respond::see_other(&format!("/manage/{}", store.hash))
                }
                (Method::GET, ["orders"]) => orders_page(shared, req, &store),
                (Method::GET, ["orders", id]) => order_page::page(shared, &store, id),
                (Method::POST, ["orders", id, action @ ..]) => {
                    order_page::action(shared, req, &store, id, action)
                }
                _ => not_found_page(),
            }
        }
        _ => not_found_page(),
    }
}

fn stores_page(shared: &Shared) -> Resp {
    let st = shared.lock();
    let mut rows = String::new();
    for store in st.stores.values() {
        let s = &store.spec;
        let installed = st.app_token(&s.hash).is_some();
        rows.push_str(&format!(
            "<tr><td><a href=\"/manage/{h}\">{name}</a></td><td>{h}</td><td>{id}</td>\
             <td>{country} · {currency}</td><td>{status}</td>\
             <td><a href=\"/storefront/{h}/\">Storefront</a></td></tr>",
            h = esc(&s.hash),
            name = esc(&s.name),
            id = s.store_id,
            country = esc(&s.country),
            currency = esc(&s.currency),
            status = if installed { "seQura installed" } else { "—" },
        ));
    }
    let body = if rows.is_empty() {
        "<div class=\"card\"><p>No stores yet.</p></div>".to_owned()
    } else {
        format!(
            "<h1>Stores</h1><div class=\"card\"><table><thead><tr><th>Store</th><th>Hash</th>\
             <th>Store id</th><th>Region</th><th>App</th><th></th></tr></thead><tbody>{rows}</tbody>\
             </table></div>"
        )
    };
    respond::html(200, layout("Stores", None, "home", &body))
}

fn apps_page(shared: &Shared, store: &StoreSpec) -> Resp {
    let (installed, notice) = {
        let mut st = shared.lock();
        (
            st.app_token(&store.hash).is_some(),
            st.notices.remove(&store.hash),
        )
    };
    let h = esc(&store.hash);
    let notice = notice
        .map(|n| format!("<div class=\"notice\">{}</div>", esc(&n)))
        .unwrap_or_default();
    let actions = if installed {
        format!(
            "<p>Installed.</p><p><a class=\"btn\" href=\"/manage/{h}/app\">Open seQura</a> \
             <form class=\"inline\" method=\"post\" action=\"/manage/{h}/uninstall\">\
             <button class=\"danger\" type=\"submit\">Uninstall</button></form></p>"
        )
    } else {
        format!(
            "<p class=\"muted\">Not installed.</p><form method=\"post\" action=\"/manage/{h}/install\">\
             <button type=\"submit\">Install seQura</button></form>"
        )
    };
    let body = format!(
        "{notice}<h1>Apps › My Apps</h1><div class=\"card\"><h2>seQura</h2>\
         <p class=\"muted\">Flexible payments: buy now, pay later.</p>{actions}</div>"
    );
    respond::html(200, layout("My Apps", Some(store), "apps", &body))
}

fn app_page(shared: &Shared, req: &Incoming, store: &StoreSpec) -> Resp {
    let frame = req
        .query_param("frame")
        .and_then(|id| shared.lock().frames.get(&id).cloned());
    let src = match frame {
        Some(url) => Some(url),
        None if shared.lock().app_token(&store.hash).is_some() => Some(
            shared
                .load_url(&store.hash, &store.owner, "/", None)
                .to_string(),
        ),
        None => None,
    };
    let body = match src {
        Some(src) => format!(
            "<h1>seQura</h1><iframe class=\"app\" title=\"seQura\" src=\"{}\"></iframe>",
            esc(&src)
        ),
        None => format!(
            "<div class=\"card\"><p>seQura is not installed on this store.</p>\
             <p><a class=\"btn\" href=\"/manage/{}\">Go to My Apps</a></p></div>",
            esc(&store.hash)
        ),
    };
    respond::html(200, layout("seQura", Some(store), "apps", &body))
}

/// The store's orders, newest first, each opening the app's order action.
fn orders_table(shared: &Shared, store: &StoreSpec) -> String {
    let st = shared.lock();
    let Some(rec) = st.stores.get(&store.hash) else {
        return String::new();
    };
    let mut rows = String::new();
    for o in rec.commerce.orders.values().rev() {
        let (total, _) = o.total();
        rows.push_str(&format!(
            "<tr><td><a href=\"/manage/{h}/orders/{id}\">#{id}</a></td><td>{status}{archived}</td>\
             <td>{name}</td><td>{total} {currency}</td><td>{payment}</td>\
             <td><a href=\"/manage/{h}/orders?panel={id}\">App panel</a></td></tr>",
            h = esc(&store.hash),
            id = o.id,
            status = esc(&order_statuses::label(store, o.status_id).unwrap_or_default()),
            name = esc(&format!("{} {}", o.billing.first_name, o.billing.last_name)),
            total = fmt4(total),
            currency = esc(&o.currency),
            payment = esc(&o.payment_method),
            archived = if o.is_deleted { " (archived)" } else { "" },
        ));
    }
    if rows.is_empty() {
        return "<div class=\"card\"><p class=\"muted\">No orders yet.</p></div>".to_owned();
    }
    format!(
        "<div class=\"card\"><table><thead><tr><th>Order</th><th>Status</th><th>Customer</th>\
         <th>Total</th><th>Payment</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

fn orders_page(shared: &Shared, req: &Incoming, store: &StoreSpec) -> Resp {
    let h = esc(&store.hash);
    let extension = {
        let st = shared.lock();
        let client = st.cfg.client_id.clone();
        st.extensions
            .iter()
            .find(|e| e.store_hash == store.hash && e.client_id == client && e.model == "ORDERS")
            .map(|e| (e.url.clone(), e.label_default.clone(), e.context.clone()))
    };
    let order_id = req
        .query_param("panel")
        .and_then(|p| p.trim().parse::<u64>().ok());
    let action_label = extension
        .as_ref()
        .map(|(_, label, _)| label.clone())
        .unwrap_or_else(|| "seQura order information".to_owned());
    let form = format!(
        "<div class=\"card\"><form method=\"get\" action=\"/manage/{h}/orders\">\
         <label>Order # <input name=\"panel\" type=\"number\" min=\"1\" required></label> \
         <button type=\"submit\">Actions › {}</button></form></div>",
        esc(&action_label)
    );
    let panel = match (order_id, &extension) {
        (Some(id), Some((url_template, _, context))) => {
            let url_path = url_template.replace("${id}", &id.to_string());
            let src = shared.load_url(&store.hash, &store.owner, &url_path, Some(1));
            let class = if context == "PANEL" { "panel" } else { "app" };
            format!(
                "<iframe class=\"{class}\" title=\"{}\" src=\"{}\"></iframe>",
                esc(&action_label),
                esc(src.as_str())
            )
        }
        (Some(_), None) => "<div class=\"card\"><p class=\"muted\">No app has registered an \
             action for orders on this store.</p></div>"
            .to_owned(),
        (None, _) => String::new(),
    };
    let body = format!(
        "<h1>Orders</h1><div class=\"split\"><div>{form}<p class=\"muted\">Enter an order number \
         to open the app's order action, as from the order's Actions menu.</p>{list}</div>{panel}</div>",
        list = orders_table(shared, store),
    );
    respond::html(200, layout("Orders", Some(store), "orders", &body))
}
