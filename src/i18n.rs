//! English and Spanish for every merchant-facing string: one catalog per language
//! (`locales/en.toml`, `locales/es.toml`, embedded), chosen from the BigCommerce user's locale.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A language of the merchant UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    /// `es`, `es-ES`, `es_419` → Spanish; anything else → English.
    pub fn from_locale(locale: Option<&str>) -> Self {
        match locale {
            Some(l) if l.trim().to_ascii_lowercase().starts_with("es") => Lang::Es,
            _ => Lang::En,
        }
    }

    /// The first language of an `Accept-Language` header (`es-ES,es;q=0.9,en;q=0.8` → es).
    pub fn from_accept_language(header: Option<&str>) -> Self {
        Self::from_locale(header.and_then(|h| h.split([',', ';']).next()))
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
}

/// One language's strings, by key.
pub type Catalog = BTreeMap<String, String>;

/// Both catalogs, parsed once at start-up.
#[derive(Clone)]
pub struct Catalogs {
    en: Arc<Catalog>,
    es: Arc<Catalog>,
}

impl Catalogs {
    pub fn load() -> anyhow::Result<Self> {
        let parse = |name: &str, text: &str| -> anyhow::Result<Catalog> {
            toml::from_str(text).map_err(|e| anyhow::anyhow!("catalog {name}: {e}"))
        };
        Ok(Self {
            en: Arc::new(parse("en", include_str!("../locales/en.toml"))?),
            es: Arc::new(parse("es", include_str!("../locales/es.toml"))?),
        })
    }

    pub fn catalog(&self, lang: Lang) -> &Catalog {
        match lang {
            Lang::En => &self.en,
            Lang::Es => &self.es,
        }
    }

    /// The string for `key`, or the key itself when missing (a test keeps that from happening).
    pub fn t<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        self.catalog(lang)
            .get(key)
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// The string for `key` with `{name}` placeholders filled in.
    pub fn tf(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(lang, key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }
}

/// Formats integer cents of euros the way each language writes money: `1.234,56 €` / `€1,234.56`.
pub fn format_eur(cents: i64, lang: Lang) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let (units, frac) = (abs / 100, abs % 100);
    let digits = units.to_string();
    let (group, decimal) = match lang {
        Lang::En => (',', '.'),
        Lang::Es => ('.', ','),
    };
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(ch);
    }
    match lang {
        Lang::En => format!("{sign}€{grouped}{decimal}{frac:02}"),
        Lang::Es => format!("{sign}{grouped}{decimal}{frac:02} €"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_exactly_the_same_keys_and_no_empty_string() {
        let c = Catalogs::load().unwrap();
        let en: Vec<&String> = c.catalog(Lang::En).keys().collect();
        let es: Vec<&String> = c.catalog(Lang::Es).keys().collect();
        assert_eq!(en, es);
        for lang in [Lang::En, Lang::Es] {
            for (k, v) in c.catalog(lang) {
                assert!(!v.trim().is_empty(), "{k} is empty in {lang:?}");
            }
        }
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        let c = Catalogs::load().unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for part in text.split("i18n.").skip(1) {
                let key: String = part
                    .chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect();
                if !key.is_empty() {
                    assert!(c.catalog(Lang::En).contains_key(&key), "missing key {key}");
                }
            }
        }
    }

    #[test]
    fn languages_come_from_the_user_locale() {
        assert_eq!(Lang::from_locale(Some("es-ES")), Lang::Es);
        assert_eq!(Lang::from_locale(Some("ES")), Lang::Es);
        assert_eq!(Lang::from_locale(Some("en-US")), Lang::En);
        assert_eq!(Lang::from_locale(Some("fr-FR")), Lang::En);
        assert_eq!(Lang::from_locale(None), Lang::En);
        assert_eq!(
            Lang::from_accept_language(Some("es-ES,es;q=0.9,en;q=0.8")),
            Lang::Es
        );
        assert_eq!(Lang::from_accept_language(Some("en-GB,es;q=0.5")), Lang::En);
    }

    #[test]
    fn money_is_formatted_per_language_from_integer_cents() {
        assert_eq!(format_eur(123456, Lang::Es), "1.234,56 €");
        assert_eq!(format_eur(123456, Lang::En), "€1,234.56");
        assert_eq!(format_eur(5, Lang::Es), "0,05 €");
        assert_eq!(format_eur(-750, Lang::En), "-€7.50");
        assert_eq!(format_eur(100000000, Lang::En), "€1,000,000.00");
    }
}
