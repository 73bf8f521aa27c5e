//! The app's five languages (English, Spanish, French, Italian, Portuguese) for every
//! merchant- and shopper-facing string: one catalog per language (`locales/*.toml`,
//! embedded), chosen from the BigCommerce user's locale (merchant pages) or the storefront's
//! locale, else the browser's `Accept-Language` (shopper pages).

use std::collections::BTreeMap;
use std::sync::Arc;

/// A language of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Es,
    Fr,
    It,
    Pt,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Es, Lang::Fr, Lang::It, Lang::Pt];

    /// `es`, `es-ES`, `es_419` → Spanish; `fr-FR` → French; `it_IT` → Italian; `pt-PT`,
    /// `pt-BR` → Portuguese; anything else → English.
    pub fn from_locale(locale: Option<&str>) -> Self {
        let Some(l) = locale else { return Lang::En };
        let l = l.trim().to_ascii_lowercase();
        let primary = l.split(['-', '_']).next().unwrap_or("");
        Self::ALL
            .into_iter()
            .find(|lang| lang.code() == primary)
            .unwrap_or(Lang::En)
    }

    /// The first language of an `Accept-Language` header (`es-ES,es;q=0.9,en;q=0.8` → es).
    pub fn from_accept_language(header: Option<&str>) -> Self {
        Self::from_locale(header.and_then(|h| h.split([',', ';']).next()))
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::It => "it",
            Lang::Pt => "pt",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One language's strings, by key.
pub type Catalog = BTreeMap<String, String>;

/// Every language's catalog, parsed once at start-up (in [`Lang::ALL`]'s order).
#[derive(Clone)]
pub struct Catalogs {
    catalogs: Arc<[Catalog; 5]>,
}

impl Catalogs {
    pub fn load() -> anyhow::Result<Self> {
        let parse = |name: &str, text: &str| -> anyhow::Result<Catalog> {
            toml::from_str(text).map_err(|e| anyhow::anyhow!("catalog {name}: {e}"))
        };
        Ok(Self {
            catalogs: Arc::new([
                parse("en", include_str!("../locales/en.toml"))?,
                parse("es", include_str!("../locales/es.toml"))?,
                parse("fr", include_str!("../locales/fr.toml"))?,
                parse("it", include_str!("../locales/it.toml"))?,
                parse("pt", include_str!("../locales/pt.toml"))?,
            ]),
        })
    }

    pub fn catalog(&self, lang: Lang) -> &Catalog {
        &self.catalogs[lang.index()]
    }

    /// The string for `key`, or the key itself when missing (a test keeps that from happening).
    pub fn t<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        self.catalog(lang)
            .get(key)
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// The string for `key` with `{name}` placeholders filled in, in one pass over the
    /// catalog's string: an argument's own text (seQura's words quoted in the log) is never
    /// read for placeholders; a `{…}` that names no argument stays as it is.
    pub fn tf(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let template = self.t(lang, key);
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let filled = after.find('}').and_then(|close| {
                let name = &after[..close];
                let (_, value) = args.iter().find(|(n, _)| *n == name)?;
                Some((value, close))
            });
            match filled {
                Some((value, close)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `key` in every language, by code (`{"en": …, "es": …, …}`): for the checkout script,
    /// which picks the storefront page's language itself.
    pub fn all(&self, key: &str, args: &[(&str, &str)]) -> serde_json::Value {
        Lang::ALL
            .into_iter()
            .map(|lang| (lang.code().to_string(), self.tf(lang, key, args).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A sentence the app writes now to be read later in the reader's language (the transaction
/// log): a catalog key with its arguments, or words that came from elsewhere (seQura's or
/// BigCommerce's own error texts), kept as they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    key: Option<&'static str>,
    args: BTreeMap<String, Arg>,
    verbatim: String,
}

/// One argument of a [`Message`], stored as `{"text": …}`, `{"money": cents}` or
/// `{"term": key}` (a catalog word such as an environment's name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arg {
    Text(String),
    Money(i64),
    Term(String),
}

impl Message {
    pub fn new(key: &'static str) -> Self {
        Self {
            key: Some(key),
            args: BTreeMap::new(),
            verbatim: String::new(),
        }
    }

    /// Words from elsewhere, shown as they are in every language.
    pub fn verbatim(text: impl Into<String>) -> Self {
        Self {
            key: None,
            args: BTreeMap::new(),
            verbatim: text.into(),
        }
    }

    /// `{name}` is `value` as it is (an id, an error text quoted).
    pub fn text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.insert(name.into(), Arg::Text(value.into()));
        self
    }

    /// `{name}` is an amount of euro cents, written as the reader's language writes money.
    pub fn money(mut self, name: &str, cents: i64) -> Self {
        self.args.insert(name.into(), Arg::Money(cents));
        self
    }

    /// `{name}` is the catalog's word for `key`.
    pub fn term(mut self, name: &str, key: &str) -> Self {
        self.args.insert(name.into(), Arg::Term(key.into()));
        self
    }

    pub fn key(&self) -> Option<&'static str> {
        self.key
    }

    /// The arguments as stored (JSON), when there is a key.
    pub fn args_json(&self) -> Option<String> {
        self.key?;
        serde_json::to_string(&self.args).ok()
    }

    /// The message in `lang`.
    pub fn render(&self, catalogs: &Catalogs, lang: Lang) -> String {
        match self.key {
            Some(key) => render(catalogs, lang, key, &self.args),
            None => self.verbatim.clone(),
        }
    }

    /// A stored message in `lang`: its key and arguments when the catalog knows the key and
    /// the arguments read, else `stored` (rows written before keys, or a key since removed).
    pub fn render_stored(
        catalogs: &Catalogs,
        lang: Lang,
        key: Option<&str>,
        args: Option<&str>,
        stored: &str,
    ) -> String {
        let Some(key) = key.filter(|k| catalogs.catalog(Lang::En).contains_key(*k)) else {
            return stored.to_string();
        };
        match serde_json::from_str::<BTreeMap<String, Arg>>(args.unwrap_or("{}")) {
            Ok(args) => render(catalogs, lang, key, &args),
            Err(_) => stored.to_string(),
        }
    }
}

fn render(catalogs: &Catalogs, lang: Lang, key: &str, args: &BTreeMap<String, Arg>) -> String {
    let values: Vec<(&str, String)> = args
        .iter()
        .map(|(name, arg)| {
            let value = match arg {
                Arg::Text(t) => t.clone(),
                Arg::Money(cents) => format_eur(*cents, lang),
                Arg::Term(k) => catalogs.t(lang, k).to_string(),
            };
            (name.as_str(), value)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    catalogs.tf(lang, key, &pairs)
}

/// Formats integer cents of euros the way each language writes money: `€1,234.56`,
/// `1.234,56 €` (es, it), `1 234,56 €` (fr, pt: no-break spaces).
pub fn format_eur(cents: i64, lang: Lang) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let (units, frac) = (abs / 100, abs % 100);
    let digits = units.to_string();
    let (group, decimal) = match lang {
        Lang::En => (',', '.'),
        Lang::Es | Lang::It => ('.', ','),
        // French groups with a narrow no-break space, Portuguese with a no-break space.
        Lang::Fr => ('\u{202f}', ','),
        Lang::Pt => ('\u{a0}', ','),
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
        Lang::Fr | Lang::It | Lang::Pt => format!("{sign}{grouped}{decimal}{frac:02}\u{a0}€"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An argument's text is the text: a `{name}` inside it (seQura's or BigCommerce's words
    /// quoted in the log) is not filled with another argument.
    #[test]
    fn an_arguments_own_braces_are_not_filled_in() {
        let c = Catalogs::load().unwrap();
        for lang in Lang::ALL {
            let s = c.tf(
                lang,
                "log_msg_duplicate_payment",
                &[("other", "{paid}"), ("paid", "u-2")],
            );
            assert!(s.contains("{paid}"), "{lang:?}: {s}");
            assert!(s.contains("u-2"), "{lang:?}: {s}");
        }
    }

    /// The `{name}` placeholders and `%s` markers of a string, sorted.
    fn placeholders(s: &str) -> Vec<String> {
        let mut found: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| format!("{{{name}}}")))
            .collect();
        found.extend(s.matches("%s").map(str::to_string));
        found.sort();
        found
    }

    #[test]
    fn every_catalog_has_exactly_the_keys_and_placeholders_of_english_and_no_empty_string() {
        let c = Catalogs::load().unwrap();
        let en = c.catalog(Lang::En);
        for lang in Lang::ALL {
            let catalog = c.catalog(lang);
            let missing: Vec<&String> = en.keys().filter(|k| !catalog.contains_key(*k)).collect();
            let extra: Vec<&String> = catalog.keys().filter(|k| !en.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{lang:?} lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{lang:?} has keys English lacks: {extra:?}"
            );
            for (k, v) in catalog {
                assert!(!v.trim().is_empty(), "{k} is empty in {lang:?}");
                assert_eq!(
                    placeholders(v),
                    placeholders(&en[k]),
                    "{k} in {lang:?} has other placeholders than in English"
                );
            }
        }
    }

    #[test]
    fn the_placeholder_check_sees_a_lost_or_renamed_placeholder() {
        assert_eq!(placeholders("a {value} b %s"), ["%s", "{value}"]);
        assert_ne!(placeholders("a {valeur}"), placeholders("a {value}"));
        assert_ne!(placeholders("%s, %s"), placeholders("%s"));
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
    fn every_log_message_key_the_code_writes_exists() {
        let c = Catalogs::load().unwrap();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for marker in ["Message::new(\"", "\"log_env_"] {
                    for part in text.split(marker).skip(1) {
                        let key: String = part
                            .chars()
                            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                            .collect();
                        let key = match marker {
                            "\"log_env_" => format!("log_env_{key}"),
                            _ => key,
                        };
                        if !key.is_empty() && key != "log_env_" {
                            seen += 1;
                            assert!(c.catalog(Lang::En).contains_key(&key), "{path:?}: {key}");
                        }
                    }
                }
            }
        }
        assert!(seen > 10, "the scan finds the log's keys ({seen})");
    }

    #[test]
    fn languages_come_from_the_user_locale() {
        assert_eq!(Lang::from_locale(Some("es-ES")), Lang::Es);
        assert_eq!(Lang::from_locale(Some("ES")), Lang::Es);
        assert_eq!(Lang::from_locale(Some("es_419")), Lang::Es);
        assert_eq!(Lang::from_locale(Some("en-US")), Lang::En);
        assert_eq!(Lang::from_locale(Some("fr")), Lang::Fr);
        assert_eq!(Lang::from_locale(Some("fr-FR")), Lang::Fr);
        assert_eq!(Lang::from_locale(Some("it_IT")), Lang::It);
        assert_eq!(Lang::from_locale(Some("pt-PT")), Lang::Pt);
        assert_eq!(Lang::from_locale(Some("pt-BR")), Lang::Pt);
        assert_eq!(Lang::from_locale(Some("de-DE")), Lang::En);
        // A language code is the whole first part: `fri` (Frisian) is not French.
        assert_eq!(Lang::from_locale(Some("fri")), Lang::En);
        assert_eq!(Lang::from_locale(Some("")), Lang::En);
        assert_eq!(Lang::from_locale(None), Lang::En);
        assert_eq!(
            Lang::from_accept_language(Some("es-ES,es;q=0.9,en;q=0.8")),
            Lang::Es
        );
        assert_eq!(Lang::from_accept_language(Some("fr-FR,fr;q=0.9")), Lang::Fr);
        assert_eq!(Lang::from_accept_language(Some("en-GB,es;q=0.5")), Lang::En);
    }

    #[test]
    fn every_language_is_offered_to_the_checkout_script() {
        let c = Catalogs::load().unwrap();
        let all = c.all("err_bigcommerce", &[("detail", "boom")]);
        for lang in Lang::ALL {
            let text = all[lang.code()].as_str().unwrap();
            assert!(text.contains("boom"), "{lang:?}: {text}");
        }
        assert_eq!(all.as_object().unwrap().len(), 5);
    }

    #[test]
    fn a_message_renders_in_each_language_from_its_key_and_arguments() {
        let c = Catalogs::load().unwrap();
        let m = Message::new("log_msg_update_sent")
            .money("shipped", 123456)
            .money("unshipped", 0);
        assert_eq!(
            m.render(&c, Lang::En),
            "Shipped €1,234.56 · unshipped €0.00"
        );
        assert_eq!(
            m.render(&c, Lang::Es),
            "Enviado 1.234,56 € · sin enviar 0,00 €"
        );
        // Stored and read back: the same row in another language.
        let args = m.args_json().unwrap();
        let stored = m.render(&c, Lang::En);
        let read = |lang| Message::render_stored(&c, lang, m.key(), Some(&args), &stored);
        assert_eq!(read(Lang::It), m.render(&c, Lang::It));
        assert!(read(Lang::Fr).starts_with("Expédié 1\u{202f}234,56\u{a0}€"));
        let env = Message::new("log_msg_not_connected_env").term("environment", "log_env_live");
        assert_eq!(
            env.render(&c, Lang::En),
            "The store is no longer connected to this order's seQura live account."
        );
        assert!(env.render(&c, Lang::Pt).contains("de produção"));
        // Words from elsewhere stay as they came, with no key stored.
        let theirs = Message::verbatim("Shipped cart cannot hold more");
        assert_eq!(theirs.render(&c, Lang::Fr), "Shipped cart cannot hold more");
        assert_eq!((theirs.key(), theirs.args_json()), (None, None));
        // Rows before keys, unknown keys and unreadable arguments show the stored text.
        for (key, args) in [
            (None, None),
            (Some("no_such_key"), Some("{}")),
            (Some("log_msg_update_sent"), Some("not json")),
        ] {
            assert_eq!(
                Message::render_stored(&c, Lang::Es, key, args, "as stored"),
                "as stored"
            );
        }
    }

    #[test]
    fn money_is_formatted_per_language_from_integer_cents() {
        assert_eq!(format_eur(123456, Lang::Es), "1.234,56 €");
        assert_eq!(format_eur(123456, Lang::En), "€1,234.56");
        assert_eq!(format_eur(123456, Lang::It), "1.234,56\u{a0}€");
        assert_eq!(format_eur(123456, Lang::Fr), "1\u{202f}234,56\u{a0}€");
        assert_eq!(format_eur(123456, Lang::Pt), "1\u{a0}234,56\u{a0}€");
        assert_eq!(format_eur(5, Lang::Es), "0,05 €");
        assert_eq!(format_eur(-750, Lang::En), "-€7.50");
        assert_eq!(format_eur(-750, Lang::Fr), "-7,50\u{a0}€");
        assert_eq!(format_eur(100000000, Lang::En), "€1,000,000.00");
    }
}
