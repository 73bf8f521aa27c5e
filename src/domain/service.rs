//! seQura's services (sequra-api.md §3.2, §11): what a merchant ref's contract allows, and
//! when a service ends or is first charged (an ISO 8601 date or duration).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

/// What a merchant ref's contract allows for services, from its credentials'
/// `contract_options`, as integration-core's `GeneralSettingsService` derives them: the first
/// instalment delay and registration items count only for a merchant ref that sells services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTerms {
    /// `services`: the merchant sells services (`service` items, virtual goods).
    pub services: bool,
    /// `allow_first_instalment_delay`: `merchant.options.desired_first_charge_on`.
    pub first_charge_delay: bool,
    /// `with_registration`: `registration` items.
    pub registration: bool,
}

impl ServiceTerms {
    pub fn from_contract_options<S: AsRef<str>>(options: &[S]) -> Self {
        let has = |o: &str| options.iter().any(|x| x.as_ref() == o);
        let services = has("services");
        ServiceTerms {
            services,
            first_charge_delay: services && has("allow_first_instalment_delay"),
            registration: services && has("with_registration"),
        }
    }
}

/// An ISO 8601 duration with at least one component, e.g. `P1Y`, `P3M15D`, `PT12H`, `P2W`
/// (the grammar of integration-core's `getDateOrDurationRegex`, which also lets an empty `P`
/// or `PT` through; seQura cannot end a service after nothing, so those are refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDuration {
    text: String,
    years: u32,
    months: u32,
    weeks: u32,
    days: u32,
    /// Hours, minutes and seconds, in seconds.
    seconds: u64,
}

impl IsoDuration {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let rest = s.strip_prefix('P')?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut d = IsoDuration {
            text: s.to_string(),
            years: 0,
            months: 0,
            weeks: 0,
            days: 0,
            seconds: 0,
        };
        let mut any = false;
        for (n, unit) in components(date, &['Y', 'M', 'W', 'D'])? {
            any = true;
            match unit {
                'Y' => d.years = n,
                'M' => d.months = n,
                'W' => d.weeks = n,
                _ => d.days = n,
            }
        }
        if let Some(time) = time {
            for (n, unit) in components(time, &['H', 'M', 'S'])? {
                any = true;
                let factor = match unit {
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
                d.seconds += u64::from(n) * factor;
            }
        }
        any.then_some(d)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `start` plus this duration (years and months on the calendar, the day clamped to the
    /// month's last), or `None` beyond the calendar.
    pub fn after(&self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        let months = i64::from(start.month() as u8) - 1 + i64::from(self.months);
        let year = i64::from(start.year()) + i64::from(self.years) + months / 12;
        let month = Month::try_from(u8::try_from(months % 12 + 1).ok()?).ok()?;
        let year = i32::try_from(year).ok()?;
        let day = start.day().min(month.length(year));
        let date = Date::from_calendar_date(year, month, day).ok()?;
        let days = i64::from(self.weeks) * 7 + i64::from(self.days);
        start
            .replace_date(date)
            .checked_add(time::Duration::days(days))?
            .checked_add(time::Duration::seconds(i64::try_from(self.seconds).ok()?))
    }
}

/// `<digits><unit>` pairs, units in the given order, each at most once; `None` if malformed.
fn components(s: &str, units: &[char]) -> Option<Vec<(u32, char)>> {
    let mut out = Vec::new();
    let mut next = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let at = units[next..].iter().position(|u| *u == c)? + next;
        if digits.is_empty() || digits.len() > 6 {
            return None;
        }
        out.push((digits.parse().ok()?, c));
        digits.clear();
        next = at + 1;
    }
    digits.is_empty().then_some(out)
}

/// When a service ends, or is first charged: a date (`ends_on`, `2027-06-30`) or a duration
/// from the purchase (`ends_in`, `P1Y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceDate {
    On(Date),
    In(IsoDuration),
}

/// The default services end date (integration-core's `DEFAULT_SERVICE_END_DATE`).
pub const DEFAULT_SERVICES_END: &str = "P1Y";

impl ServiceDate {
    /// An ISO 8601 calendar date `YYYY-MM-DD` (a real day) or a duration.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.starts_with('P') {
            return IsoDuration::parse(s).map(ServiceDate::In);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        (s.len() == 10)
            .then(|| Date::parse(s, &format).ok())
            .flatten()
            .map(ServiceDate::On)
    }

    pub fn default_end() -> Self {
        ServiceDate::In(IsoDuration::parse(DEFAULT_SERVICES_END).expect("P1Y is a duration"))
    }

    /// `(ends_on, ends_in)`: exactly one is set.
    pub fn ends(&self) -> (Option<String>, Option<String>) {
        match self {
            ServiceDate::On(_) => (Some(self.to_string()), None),
            ServiceDate::In(d) => (None, Some(d.as_str().to_string())),
        }
    }

    /// The moment this names, from `now`: a date at midnight UTC, a duration after `now`.
    pub fn from(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            ServiceDate::On(d) => Some(d.midnight().assume_utc()),
            ServiceDate::In(d) => d.after(now),
        }
    }
}

impl Serialize for ServiceDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read back as written (`Serialize`): a date or a duration, checked as [`ServiceDate::parse`]
/// checks the merchant's.
impl<'de> Deserialize<'de> for ServiceDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ServiceDate::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not an ISO 8601 date or duration"))
    }
}

impl fmt::Display for ServiceDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceDate::On(d) => {
                write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
            }
            ServiceDate::In(d) => f.write_str(d.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_date_reads_back_as_written_and_nothing_else() {
        for text in ["2027-06-30", "P6M", "P1Y2M10DT2H"] {
            let d = ServiceDate::parse(text).unwrap();
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<ServiceDate>(&json).unwrap(), d);
        }
        for bad in ["\"2027-02-30\"", "\"P\"", "\"soon\"", "12"] {
            assert!(serde_json::from_str::<ServiceDate>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contract_options_give_the_terms_as_integration_core_derives_them() {
        let t = ServiceTerms::from_contract_options(&[
            "services",
            "allow_first_instalment_delay",
            "with_registration",
        ]);
        assert_eq!(
            t,
            ServiceTerms {
                services: true,
                first_charge_delay: true,
                registration: true
            }
        );
        // Delay and registration without services allow nothing.
        let t = ServiceTerms::from_contract_options(&[
            "allow_first_instalment_delay",
            "with_registration",
        ]);
        assert_eq!(t, ServiceTerms::default());
    }

    #[test]
    fn dates_and_durations_parse_and_nonsense_is_refused() {
        for ok in [
            "P1Y",
            "P3M15D",
            "PT12H",
            "P2W",
            "P1Y2M3W4DT5H6M7S",
            "2027-06-30",
            "2028-02-29",
        ] {
            let d = ServiceDate::parse(ok).unwrap_or_else(|| panic!("{ok}"));
            assert_eq!(d.to_string(), ok);
        }
        for bad in [
            "",
            "P",
            "PT",
            "P1",
            "1Y",
            "P1Y1Y",
            "P1M1Y",
            "P-1Y",
            "P1.5Y",
            "2027-02-30",
            "2027-6-30",
            "2027-06-30T00:00",
            "p1y",
            "PT1D",
            "P1H",
        ] {
            assert_eq!(ServiceDate::parse(bad), None, "{bad}");
        }
        assert_eq!(
            ServiceDate::parse("P1Y").unwrap().ends(),
            (None, Some("P1Y".into()))
        );
        assert_eq!(
            ServiceDate::parse("2027-06-30").unwrap().ends(),
            (Some("2027-06-30".into()), None)
        );
    }

    #[test]
    fn a_duration_is_added_on_the_calendar() {
        let start = time::macros::datetime!(2024-01-31 10:00 UTC);
        let d = IsoDuration::parse("P1M").unwrap();
        assert_eq!(
            d.after(start),
            Some(time::macros::datetime!(2024-02-29 10:00 UTC))
        );
        let d = IsoDuration::parse("P1Y11M2DT1H").unwrap();
        assert_eq!(
            d.after(start),
            Some(time::macros::datetime!(2026-01-02 11:00 UTC))
        );
    }
}
