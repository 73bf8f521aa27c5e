//! seQura's side of the configuration webhook (remote-configuration spec §2): seQura POSTs
//! the signed URL a shop registered (`POST store_integrations`) with a flat JSON body naming a
//! `topic`. For tests, [`super::SequraStandIn::send_configuration`]; for a person running the
//! demo, `GET {base}/_control/store_integrations` lists the registrations with a form each,
//! which `POST {base}/_control/store_integrations/{id}/send` delivers.
//!
//! Only a URL registered and not deleted since is called: seQura knows no other.

use std::sync::Arc;

use serde_json::Value;

use super::form::page;
use super::respond::{Resp, esc};
use super::{Incoming, Shared};

/// The shop's answer to one configuration webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigurationAnswer {
    /// The shop's HTTP status; 0 when it did not answer.
    pub status: u16,
    /// The body as JSON (`Value::String` of the text when it is not JSON).
    pub body: Value,
}

impl Shared {
    /// POSTs `body` (a JSON object with its `topic`) to the webhook URL of registration `id`,
    /// as seQura does: `Content-Type: application/json`, the URL exactly as registered.
    pub(crate) async fn send_configuration(
        &self,
        id: u64,
        body: &Value,
    ) -> Result<ConfigurationAnswer, String> {
        let url = {
            let st = self.lock();
            let Some(i) = st.integrations.iter().find(|i| i.id == id) else {
                return Err(format!("no store integration {id}"));
            };
            if i.deleted {
                return Err(format!("store integration {id} was deleted"));
            }
            i.webhook_url().to_owned()
        };
        let sent = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let Ok(resp) = sent else {
            return Ok(ConfigurationAnswer {
                status: 0,
                body: Value::Null,
            });
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(ConfigurationAnswer { status, body })
    }
}

/// `GET {base}/_control/store_integrations`: every registration, a form to send a topic to
/// each one still registered.
pub(crate) fn index(shared: &Shared) -> Resp {
    let st = shared.lock();
    let mut rows = String::new();
    for i in st.integrations.iter().rev() {
        let form = if i.deleted {
            "deleted".to_owned()
        } else {
            format!(
                "<form method=\"post\" action=\"/_control/store_integrations/{id}/send\">\
                 <textarea name=\"body\" rows=\"3\" cols=\"50\">{{\"topic\":\"get-store-info\"}}</textarea>\
                 <button type=\"submit\">Send</button></form>",
                id = i.id
            )
        };
        rows.push_str(&format!(
            "<tr><td>{id}</td><td>{deployment}</td><td>{env}</td><td>{user}</td><td>{store}</td>\
             <td>{caps}</td><td>{form}</td></tr>",
            id = i.id,
            deployment = esc(&i.deployment),
            env = esc(&i.environment),
            user = esc(&i.username),
            store = esc(&i.store_id().unwrap_or_default()),
            caps = esc(&i.capabilities().join(", ")),
        ));
    }
    let body = if rows.is_empty() {
        "<p>No store has registered its configuration webhook yet.</p>".to_owned()
    } else {
        format!(
            "<p>Send a configuration webhook as seQura's team would: a JSON object with its \
             <code>topic</code>, e.g. <code>{{\"topic\":\"get-store-info\"}}</code>.</p>\
             <table><thead><tr><th>Id</th><th>Deployment</th><th>Env</th><th>Account</th>\
             <th>storeId</th><th>Capabilities</th><th>Send</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    page(200, "Store integrations", &body)
}

/// `POST {base}/_control/store_integrations/{id}/send` with the form field `body`: sends it
/// and shows the shop's answer.
pub(crate) async fn send(shared: &Arc<Shared>, req: &Incoming, id: &str) -> Resp {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    let text = fields
        .iter()
        .find(|(k, _)| k == "body")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let Ok(body) = serde_json::from_str::<Value>(&text) else {
        return page(400, "Not JSON", "<p>The body must be a JSON object.</p>");
    };
    let Ok(id) = id.parse::<u64>() else {
        return page(404, "Unknown", "<p>No such store integration.</p>");
    };
    match shared.send_configuration(id, &body).await {
        Ok(answer) => {
            let shown = serde_json::to_string_pretty(&answer.body).unwrap_or_default();
            page(
                200,
                "Configuration webhook sent",
                &format!(
                    "<p>The shop answered HTTP <b id=\"status\">{}</b>.</p><pre id=\"answer\">{}</pre>\
                     <p><a href=\"/_control/store_integrations\">Back</a></p>",
                    answer.status,
                    esc(&shown)
                ),
            )
        }
        Err(e) => page(409, "Not sent", &format!("<p>{}</p>", esc(&e))),
    }
}
