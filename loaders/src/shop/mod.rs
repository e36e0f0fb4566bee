//! The storefront's own configuration: the shop's name, currency and accepted card brands,
//! feature flags (stored, held on every replica, evaluated per viewer), and web sessions
//! kept in the table so that any replica serves any shopper.

pub mod flags;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use flags::{Evaluation, FlagError, FlagRecord, FlagViewer, Flags, Targeting, Variant};
pub use sessions::{SessionChange, SessionConsent, SessionRecord, Sessions};

use crate::domain::{
    Domain, DomainConfig, FeedReport, OpenError, Services, SettingError, Shared, SharedSettings,
    parse_section,
};
use crate::store::Key;

/// The shop's settings (`[shop]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// The shop's name.
    pub name: String,
    /// Its currency (ISO 4217).
    pub currency_code: String,
    /// The card brands its checkout takes.
    pub accepted_card_brands: Vec<String>,
    /// Hours a web session lives after its last change.
    pub session_ttl_hours: u64,
    /// Seconds between full re-reads of the flags (the change feed updates them at once;
    /// this catches anything it missed).
    pub flags_reload_seconds: u64,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            name: "Storefront".into(),
            currency_code: "USD".into(),
            accepted_card_brands: ["VISA", "MASTERCARD", "AMERICAN_EXPRESS"]
                .map(str::to_owned)
                .to_vec(),
            session_ttl_hours: 72,
            flags_reload_seconds: 60,
        }
    }
}

impl DomainConfig for ShopConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if self.currency_code.len() != 3
            || !self.currency_code.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(SettingError::new(
                format!("{section}.currency_code"),
                "an ISO 4217 code, such as USD",
            ));
        }
        if self.session_ttl_hours == 0 || self.flags_reload_seconds == 0 {
            return Err(SettingError::new(
                section,
                "session_ttl_hours and flags_reload_seconds must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The shop domain.
pub struct ShopDomain;

/// The shop domain, as registered in the schema crate.
pub static DOMAIN: ShopDomain = ShopDomain;

#[async_trait::async_trait]
impl Domain for ShopDomain {
    fn name(&self) -> &'static str {
        "shop"
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<ShopConfig>(self.name(), section, shared).map(drop)
    }

    // Flag writes travel to every replica through the cache's invalidation channel.
    fn cacheable(&self, key: &Key) -> bool {
        key.pk.starts_with("FLAG#")
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<ShopConfig>(self.name(), section, &shared.settings)?;
        let flags = Flags::new(Arc::clone(&shared.table), Arc::clone(&shared.uncached));
        // Read at start; a store that cannot answer yet leaves the flags unknown (null) until
        // a re-read succeeds, rather than keeping the gateway down.
        if let Err(e) = flags.reload().await {
            tracing::warn!(error = %e, "the feature flags could not be read; retried every `flags_reload_seconds`");
        }
        flags.follow(&shared.changes);
        services.insert(flags);
        services.insert(Sessions::new(
            Arc::clone(&shared.table),
            Duration::from_secs(config.session_ttl_hours * 3_600),
        ));
        services.insert(Arc::new(config));
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let (Some(flags), Some(config)) = (
            services.get::<Flags>().cloned(),
            services.get::<Arc<ShopConfig>>().cloned(),
        ) else {
            return Ok(None);
        };
        let every = Duration::from_secs(config.flags_reload_seconds);
        // Open read them already; the change feed keeps them current in between.
        crate::periodic::every(every, crate::periodic::First::AfterAPeriod, move || {
            let flags = flags.clone();
            async move {
                if let Err(e) = flags.reload().await {
                    tracing::warn!(error = %e, "the feature flags could not be re-read");
                }
            }
        });
        Ok(Some(format!(
            "feature flags re-read every {} s",
            config.flags_reload_seconds
        )))
    }

    fn feeds(&self) -> &'static [&'static str] {
        &["flags"]
    }

    fn feed_key(&self, feed: &str) -> &'static [&'static str] {
        if feed == "flags" { &["key"] } else { &[] }
    }

    /// `import flags FILE.json`: a JSON array of flags (or one flag a line); each replaces
    /// the flag with its key.
    async fn import(
        &self,
        services: &Services,
        feed: &str,
        mut lines: Box<dyn std::io::BufRead + Send>,
    ) -> Result<FeedReport, OpenError> {
        if feed != "flags" {
            return Err(OpenError::new(format!("shop has no feed `{feed}`")));
        }
        let flags = services
            .get::<Flags>()
            .ok_or_else(|| OpenError::new("the shop domain is not open"))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut lines, &mut text)
            .map_err(|e| OpenError::new(format!("cannot read the flags: {e}")))?;
        let mut report = FeedReport::default();
        let records: Vec<(usize, Result<FlagRecord, String>)> = if text
            .trim_start()
            .starts_with('[')
        {
            match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                Ok(values) => values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i + 1, FlagRecord::from_json(v)))
                    .collect(),
                Err(e) => return Err(OpenError::new(format!("not a JSON array of flags: {e}"))),
            }
        } else {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| {
                    let parsed = serde_json::from_str(l).map_err(|e| e.to_string());
                    (i + 1, parsed.and_then(FlagRecord::from_json))
                })
                .collect()
        };
        let mut applied = 0;
        for (number, record) in records {
            match record {
                Ok(flag) => match flags.set(flag).await {
                    Ok(_) => applied += 1,
                    Err(e) => report.failures.push((number, e.to_string())),
                },
                Err(e) => report.failures.push((number, e)),
            }
        }
        report.summary = format!("{applied} flags set, {} refused", report.failures.len());
        Ok(report)
    }
}
