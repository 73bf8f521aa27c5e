//! seQura's deployments (sequra-api.md §1.1): seQura and SVEA, each with its own live and
//! sandbox API and assets hosts. The list is read as seQura's own library reads it, `GET
//! deployments` on the seQura live API, without authentication; until it has been read (and
//! when it cannot be) the built-in list stands. A URL set in the configuration overrides the
//! list's (tests and the demo point them at the stand-in).

use std::fmt;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use url::Url;

/// A seQura deployment: a brand with its own hosts, accounts and merchant refs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    Sequra,
    Svea,
}

impl Deployment {
    pub const ALL: [Deployment; 2] = [Deployment::Sequra, Deployment::Svea];

    /// The id seQura's list and the database use: `sequra`, `svea`.
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Sequra => "sequra",
            Deployment::Svea => "svea",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The brand's name as seQura's list gives it.
    pub fn name(self) -> &'static str {
        match self {
            Deployment::Sequra => "seQura",
            Deployment::Svea => "SVEA",
        }
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A seQura environment. Each has its own base URL and its own credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Sandbox,
    Live,
}

impl Environment {
    /// `"sandbox"` or `"live"`, as seQura and the database spell them.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Live => "live",
        }
    }

    /// The inverse of [`Environment::as_str`]; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Environment::Sandbox),
            "live" => Some(Environment::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One environment's hosts of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    pub api_base_url: Url,
    pub assets_base_url: Url,
}

/// One environment's hosts as `GET deployments` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedHosts {
    pub api_base_url: String,
    pub assets_base_url: String,
}

/// One deployment as `GET deployments` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub live: ListedHosts,
    pub sandbox: ListedHosts,
}

/// The URLs the configuration sets (each overriding the list's), by deployment and
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    entries: Vec<(Deployment, Environment, Option<Url>, Option<Url>)>,
}

impl Overrides {
    /// `api` and `assets` of `deployment` in `env`, each `None` to take the list's.
    pub fn set(
        mut self,
        deployment: Deployment,
        env: Environment,
        api: Option<Url>,
        assets: Option<Url>,
    ) -> Self {
        self.entries.push((deployment, env, api, assets));
        self
    }

    fn get(&self, d: Deployment, env: Environment) -> (Option<&Url>, Option<&Url>) {
        self.entries
            .iter()
            .find(|(dd, e, _, _)| *dd == d && *e == env)
            .map_or((None, None), |(_, _, api, assets)| {
                (api.as_ref(), assets.as_ref())
            })
    }
}

/// The hosts of every deployment: the list last read (or the built-in one) under the
/// configuration's overrides. Shared by the client and the widgets.
#[derive(Debug, Clone)]
pub struct Deployments {
    listed: Arc<RwLock<Vec<(Deployment, Hosts, Hosts)>>>,
    overrides: Arc<Overrides>,
}

/// seQura's list as its own library's fixture gives it (§1.1); SVEA's sandbox is
/// `next-sandbox` there ([U]: its helper seeds `sandbox.`).
fn builtin() -> Vec<(Deployment, Hosts, Hosts)> {
    let hosts = |api: &str, assets: &str| Hosts {
        api_base_url: Url::parse(api).expect("built-in URL"),
        assets_base_url: Url::parse(assets).expect("built-in URL"),
    };
    vec![
        (
            Deployment::Sequra,
            hosts(
                "https://live.sequrapi.com/",
                "https://live.sequracdn.com/assets/",
            ),
            hosts(
                "https://sandbox.sequrapi.com/",
                "https://sandbox.sequracdn.com/assets/",
            ),
        ),
        (
            Deployment::Svea,
            hosts(
                "https://live.sequra.svea.com/",
                "https://live.cdn.sequra.svea.com/assets/",
            ),
            hosts(
                "https://next-sandbox.sequra.svea.com/",
                "https://next-sandbox.cdn.sequra.svea.com/assets/",
            ),
        ),
    ]
}

/// A base URL as the client joins paths to it: `http(s)`, ending in `/`.
pub fn normalise(mut url: Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return None;
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// Every deployment's hosts as the configuration sets them: seQura's list (built in until
/// read) under each URL set there (an empty one takes the list's).
pub fn from_settings(s: &crate::config::SequraSettings) -> Result<Deployments, String> {
    let url = |key: &str, v: &str| -> Result<Option<Url>, String> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        Url::parse(v.trim())
            .ok()
            .and_then(normalise)
            .map(Some)
            .ok_or_else(|| format!("sequra.{key} = {v:?} must be an http(s) URL"))
    };
    let mut overrides = Overrides::default();
    for (d, env, api, assets) in [
        (
            Deployment::Sequra,
            Environment::Sandbox,
            ("sandbox_url", &s.sandbox_url),
            ("sandbox_assets_url", &s.sandbox_assets_url),
        ),
        (
            Deployment::Sequra,
            Environment::Live,
            ("live_url", &s.live_url),
            ("live_assets_url", &s.live_assets_url),
        ),
        (
            Deployment::Svea,
            Environment::Sandbox,
            ("svea_sandbox_url", &s.svea_sandbox_url),
            ("svea_sandbox_assets_url", &s.svea_sandbox_assets_url),
        ),
        (
            Deployment::Svea,
            Environment::Live,
            ("svea_live_url", &s.svea_live_url),
            ("svea_live_assets_url", &s.svea_live_assets_url),
        ),
    ] {
        overrides = overrides.set(d, env, url(api.0, api.1)?, url(assets.0, assets.1)?);
    }
    Ok(Deployments::new(overrides))
}

/// The back office of `deployment` in `environment` as the configuration sets it; orders are
/// at `{this}/orders/{uuid}`.
pub fn portal_url(
    s: &crate::config::SequraSettings,
    deployment: Deployment,
    environment: Environment,
) -> &str {
    match (deployment, environment) {
        (Deployment::Sequra, Environment::Sandbox) => &s.sandbox_portal_url,
        (Deployment::Sequra, Environment::Live) => &s.live_portal_url,
        (Deployment::Svea, Environment::Sandbox) => &s.svea_sandbox_portal_url,
        (Deployment::Svea, Environment::Live) => &s.svea_live_portal_url,
    }
}

impl Deployments {
    /// The built-in list under `overrides`.
    pub fn new(overrides: Overrides) -> Self {
        Self {
            listed: Arc::new(RwLock::new(builtin())),
            overrides: Arc::new(overrides),
        }
    }

    fn hosts(&self, d: Deployment, env: Environment) -> Hosts {
        let listed = self.listed.read().unwrap_or_else(|e| e.into_inner());
        let found = listed
            .iter()
            .find(|(dd, _, _)| *dd == d)
            .map(|(_, live, sandbox)| match env {
                Environment::Live => live.clone(),
                Environment::Sandbox => sandbox.clone(),
            });
        drop(listed);
        let fallback = || {
            builtin()
                .into_iter()
                .find(|(dd, _, _)| *dd == d)
                .map(|(_, live, sandbox)| match env {
                    Environment::Live => live,
                    Environment::Sandbox => sandbox,
                })
                .expect("every deployment is built in")
        };
        let mut hosts = found.unwrap_or_else(fallback);
        let (api, assets) = self.overrides.get(d, env);
        if let Some(api) = api {
            hosts.api_base_url = api.clone();
        }
        if let Some(assets) = assets {
            hosts.assets_base_url = assets.clone();
        }
        hosts
    }

    /// Where the list itself is read: seQura's live API as configured or built in, never as
    /// a list named it (as integration-core reads it from a fixed URL), so that one wrong
    /// list cannot move where every later list comes from.
    pub fn list_source(&self) -> Url {
        match self.overrides.get(Deployment::Sequra, Environment::Live) {
            (Some(api), _) => api.clone(),
            _ => builtin()
                .into_iter()
                .find(|(d, _, _)| *d == Deployment::Sequra)
                .map(|(_, live, _)| live.api_base_url)
                .expect("seQura is built in"),
        }
    }

    /// The API base URL of `d` in `env`, ending in `/`.
    pub fn api(&self, d: Deployment, env: Environment) -> Url {
        self.hosts(d, env).api_base_url
    }

    /// The assets base URL of `d` in `env` (seQura's widget script is under it), ending in `/`.
    pub fn assets(&self, d: Deployment, env: Environment) -> Url {
        self.hosts(d, env).assets_base_url
    }

    /// Takes a list read from seQura: the deployments the app knows, with valid URLs; the
    /// others keep what they had. Returns how many were taken.
    ///
    /// The list decides where the merchants' Basic credentials go and whose script the
    /// storefront loads, so read over TLS it may only name `https` hosts: one plain `http`
    /// URL (a tampered or mistaken list) leaves its deployment as it was. Only a list read
    /// from a plain `http` seQura the operator configured (a stand-in) may name `http` ones.
    pub fn take(&self, list: &[Listed]) -> usize {
        let plain_allowed = self.list_source().scheme() == "http";
        let mut taken = Vec::new();
        for l in list {
            let Some(d) = Deployment::parse(&l.id) else {
                continue;
            };
            let url = |s: &str| {
                let url = normalise(Url::parse(s).ok()?)?;
                (url.scheme() == "https" || plain_allowed).then_some(url)
            };
            let host = |h: &ListedHosts| {
                Some(Hosts {
                    api_base_url: url(&h.api_base_url)?,
                    assets_base_url: url(&h.assets_base_url)?,
                })
            };
            if let (Some(live), Some(sandbox)) = (host(&l.live), host(&l.sandbox)) {
                taken.push((d, live, sandbox));
            }
        }
        let n = taken.len();
        let mut listed = self.listed.write().unwrap_or_else(|e| e.into_inner());
        for (d, live, sandbox) in taken {
            match listed.iter_mut().find(|(dd, _, _)| *dd == d) {
                Some(entry) => *entry = (d, live, sandbox),
                None => listed.push((d, live, sandbox)),
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list naming another host for seQura's live API is taken for the calls, but the
    /// next list is still read where the first was.
    #[test]
    fn a_list_never_moves_where_the_next_list_is_read() {
        let d = Deployments::new(Overrides::default());
        let source = d.list_source();
        assert_eq!(source.as_str(), "https://live.sequrapi.com/");
        let elsewhere = ListedHosts {
            api_base_url: "https://elsewhere.example/".into(),
            assets_base_url: "https://elsewhere.example/assets/".into(),
        };
        let list = [Listed {
            id: "sequra".into(),
            name: "seQura".into(),
            live: elsewhere.clone(),
            sandbox: elsewhere,
        }];
        assert_eq!(d.take(&list), 1);
        assert_eq!(
            d.api(Deployment::Sequra, Environment::Live).as_str(),
            "https://elsewhere.example/"
        );
        assert_eq!(d.list_source(), source);
    }

    #[test]
    fn the_list_read_replaces_the_built_in_one_under_the_configurations_overrides() {
        let own = Url::parse("http://127.0.0.1:9/sandbox/").unwrap();
        let d = Deployments::new(Overrides::default().set(
            Deployment::Sequra,
            Environment::Sandbox,
            Some(own.clone()),
            None,
        ));
        assert_eq!(d.api(Deployment::Sequra, Environment::Sandbox), own);
        assert_eq!(
            d.api(Deployment::Svea, Environment::Live).as_str(),
            "https://live.sequra.svea.com/"
        );
        let list: Vec<Listed> = serde_json::from_str(
            r#"[{"id":"svea","name":"SVEA",
                 "live":{"api_base_url":"https://svea.example/api","assets_base_url":"https://cdn.svea.example/a/"},
                 "sandbox":{"api_base_url":"https://sb.svea.example/","assets_base_url":"https://sbcdn.svea.example/"}},
                {"id":"other","name":"?","live":{"api_base_url":"https://x/","assets_base_url":"https://x/"},
                 "sandbox":{"api_base_url":"https://x/","assets_base_url":"https://x/"}},
                {"id":"sequra","name":"seQura",
                 "live":{"api_base_url":"ftp://bad/","assets_base_url":"https://x/"},
                 "sandbox":{"api_base_url":"https://y/","assets_base_url":"https://y/"}}]"#,
        )
        .unwrap();
        assert_eq!(
            d.take(&list),
            1,
            "svea only: unknown ids and bad URLs are left out"
        );
        assert_eq!(
            d.api(Deployment::Svea, Environment::Live).as_str(),
            "https://svea.example/api/"
        );
        assert_eq!(
            d.assets(Deployment::Svea, Environment::Sandbox).as_str(),
            "https://sbcdn.svea.example/"
        );
        assert_eq!(
            d.api(Deployment::Sequra, Environment::Live).as_str(),
            "https://live.sequrapi.com/",
            "a bad entry keeps what was there"
        );
        assert_eq!(d.api(Deployment::Sequra, Environment::Sandbox), own);
    }

    /// A list read over TLS that points a deployment at plain `http` (where the merchants'
    /// Basic credentials would go readable by anyone on the way) is not taken.
    #[test]
    fn a_list_read_over_tls_naming_a_plain_http_host_is_not_taken() {
        let d = Deployments::new(Overrides::default());
        let list: Vec<Listed> = serde_json::from_str(
            r#"[{"id":"svea","name":"SVEA",
                 "live":{"api_base_url":"https://live.sequra.svea.com/","assets_base_url":"https://live.cdn.sequra.svea.com/assets/"},
                 "sandbox":{"api_base_url":"http://attacker.example/","assets_base_url":"https://next-sandbox.cdn.sequra.svea.com/assets/"}},
                {"id":"sequra","name":"seQura",
                 "live":{"api_base_url":"https://live.sequrapi.com/","assets_base_url":"http://cdn.attacker.example/"},
                 "sandbox":{"api_base_url":"https://sandbox.sequrapi.com/","assets_base_url":"https://sandbox.sequracdn.com/assets/"}}]"#,
        )
        .unwrap();
        assert_eq!(d.take(&list), 0);
        assert_eq!(
            d.api(Deployment::Svea, Environment::Sandbox).as_str(),
            "https://next-sandbox.sequra.svea.com/"
        );
        assert_eq!(
            d.assets(Deployment::Sequra, Environment::Live).as_str(),
            "https://live.sequracdn.com/assets/"
        );
        // A stand-in the operator configured on plain http lists its own plain hosts.
        let own = Url::parse("http://127.0.0.1:9/live/").unwrap();
        let d = Deployments::new(Overrides::default().set(
            Deployment::Sequra,
            Environment::Live,
            Some(own),
            None,
        ));
        assert_eq!(d.take(&list), 2);
    }
}
