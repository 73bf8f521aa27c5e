//! The embedded minijinja templates, all compiled at start-up (and in a test).

use std::sync::Arc;

use minijinja::Environment;
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct TemplateFiles;

/// Every template, compiled once. Only `*.html` names exist, so autoescape is always on.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl Templates {
    /// Compiles every embedded template; a syntax error stops start-up.
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.add_filter("datetime", |s: String| readable_time(&s));
        for name in TemplateFiles::iter().filter(|n| n.ends_with(".html")) {
            let file = TemplateFiles::get(&name)
                .ok_or_else(|| anyhow::anyhow!("template {name} vanished"))?;
            let source = String::from_utf8(file.data.into_owned())
                .map_err(|_| anyhow::anyhow!("template {name} is not UTF-8"))?;
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        Ok(Self { env: Arc::new(env) })
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> anyhow::Result<String> {
        let tmpl = self.env.get_template(name)?;
        Ok(tmpl.render(minijinja::value::Serde(ctx))?)
    }

    pub fn names(&self) -> Vec<String> {
        self.env.templates().map(|(n, _)| n.to_string()).collect()
    }
}

/// `2026-11-28T05:43:47Z` → `2026-11-28 05:43 UTC` (the `datetime` filter).
pub fn readable_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) if rfc3339.get(10..11) == Some("T") => {
            format!("{date} {time} UTC")
        }
        _ => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_compiles() {
        let t = Templates::load().unwrap();
        assert!(t.names().iter().any(|n| n == "dashboard.html"));
        assert!(t.names().iter().all(|n| n.ends_with(".html")));
    }
}
