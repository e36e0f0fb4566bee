//! Fraud detection at sign-in, sign-up and checkout: a `FraudScorer` (Amazon Fraud Detector,
//! or the embedded rules with velocity counted in Redis) behind a deadline that fails open or
//! closed by config, and every decision stored with its reasons for admins to review.

pub mod decisions;
pub mod detector;
pub mod event;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};

pub use decisions::{DecisionStore, FraudDecision};
pub use detector::{DetectorConfig, DetectorScorer};
pub use event::{
    Assessment, ClientSignals, FraudAddress, FraudEvent, FraudEventKind, FraudScorer, ScoreError,
    Verdict,
};
pub use rules::{FraudRules, RuleScorer};

use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};

/// Which engine scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FraudEngine {
    /// The embedded rules.
    #[default]
    Rules,
    /// Amazon Fraud Detector.
    Frauddetector,
}

/// What a scorer that fails or misses its deadline amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Approve (the shop keeps selling while the detector is away).
    #[default]
    Open,
    /// Block (nothing passes unchecked).
    Closed,
}

/// The fraud domain's settings (`[fraud]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// `rules` (embedded) or `frauddetector`.
    pub engine: FraudEngine,
    /// Milliseconds the scorer may take.
    pub timeout_millis: u64,
    /// `open` or `closed`, when the scorer fails or is late.
    pub on_failure: FailMode,
    /// Days each decision is kept.
    pub retention_days: u64,
    /// The embedded rules.
    pub rules: FraudRules,
    /// The Fraud Detector engine.
    pub detector: DetectorConfig,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            engine: FraudEngine::Rules,
            timeout_millis: 300,
            on_failure: FailMode::Open,
            retention_days: 180,
            rules: FraudRules::default(),
            detector: DetectorConfig::default(),
        }
    }
}

impl DomainConfig for FraudConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        if let Some(problem) = self.rules.problem() {
            return Err(SettingError::new(format!("{section}.rules"), problem));
        }
        if self.timeout_millis == 0 || self.retention_days == 0 {
            return Err(SettingError::new(
                section,
                "timeout_millis and retention_days must be at least 1",
            ));
        }
        if self.engine == FraudEngine::Frauddetector
            && (self.detector.detector_id.is_empty() || self.detector.event_type.is_empty())
        {
            return Err(SettingError::new(
                format!("{section}.detector"),
                "the frauddetector engine needs `detector_id` and `event_type`",
            ));
        }
        Ok(())
    }
}

/// Labels of a decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `sign_in`, `sign_up` or `checkout`.
    pub event: &'static str,
    /// `APPROVE`, `REVIEW` or `BLOCK`.
    pub verdict: &'static str,
    /// `scored`, `timeout` or `error`.
    pub outcome: &'static str,
}

/// The fraud check every domain asks: scores, applies the deadline, stores the decision.
pub struct Fraud {
    scorer: Arc<dyn FraudScorer>,
    deadline: Duration,
    on_failure: FailMode,
    /// Where decisions are kept.
    pub decisions: DecisionStore,
    counted: Family<DecisionLabels, Counter>,
}

impl Fraud {
    /// A check with `scorer`, answering within `deadline` (else as `on_failure` says).
    pub fn new(
        scorer: Arc<dyn FraudScorer>,
        deadline: Duration,
        on_failure: FailMode,
        decisions: DecisionStore,
        metrics: &crate::Metrics,
    ) -> Self {
        let counted = Family::<DecisionLabels, Counter>::default();
        metrics.register(
            "fraud_decisions",
            "Fraud decisions, by event, verdict and how the scorer answered",
            counted.clone(),
        );
        Self {
            scorer,
            deadline,
            on_failure,
            decisions,
            counted,
        }
    }

    /// The decision on an event. Always answers: a scorer that fails or is late gives the
    /// configured fail mode's verdict. The decision is stored (a store failure is logged and
    /// does not change the verdict).
    pub async fn check(&self, event: &FraudEvent) -> FraudDecision {
        let (engine, outcome, assessed) = match tokio::time::timeout(
            self.deadline,
            self.scorer.score(event),
        )
        .await
        {
            Ok(Ok(assessed)) => (self.scorer.name(), "scored", assessed),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, engine = self.scorer.name(), "the fraud scorer failed");
                let why: String = e.0.chars().take(200).collect();
                (
                    "fallback",
                    "error",
                    self.fallback(format!("{} failed ({why})", self.scorer.name())),
                )
            }
            Err(_) => (
                "fallback",
                "timeout",
                self.fallback(format!(
                    "{} did not answer within {} ms",
                    self.scorer.name(),
                    self.deadline.as_millis()
                )),
            ),
        };
        self.counted
            .get_or_create(&DecisionLabels {
                event: event.kind.as_str(),
                verdict: assessed.verdict.as_str(),
                outcome,
            })
            .inc();
        let decision = FraudDecision {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind: event.kind,
            engine: engine.to_owned(),
            verdict: assessed.verdict,
            score: assessed.score,
            reasons: assessed.reasons,
            email: event.email.clone(),
            customer_id: event.customer_id.clone(),
            order_id: event.order_id.clone(),
            ip: event.ip.clone(),
            at: Utc::now(),
        };
        if let Err(e) = self.decisions.record(&decision).await {
            tracing::error!(error = %e, decision = %decision.id, "a fraud decision was not stored");
        }
        decision
    }

    fn fallback(&self, why: String) -> Assessment {
        let (verdict, mode) = match self.on_failure {
            FailMode::Open => (Verdict::Approve, "open"),
            FailMode::Closed => (Verdict::Block, "closed"),
        };
        Assessment {
            verdict,
            score: 0,
            reasons: vec![format!("{why}; failed {mode}")],
        }
    }
}

/// The fraud domain.
pub struct FraudDomain;

/// The fraud domain, as registered in the schema crate.
pub static DOMAIN: FraudDomain = FraudDomain;

#[async_trait::async_trait]
impl Domain for FraudDomain {
    fn name(&self) -> &'static str {
        "fraud"
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<FraudConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config = parse_section::<FraudConfig>(self.name(), section, &shared.settings)?;
        let scorer: Arc<dyn FraudScorer> = match config.engine {
            FraudEngine::Rules => Arc::new(RuleScorer::new(
                config.rules.clone(),
                shared.redis.clone(),
                &shared.settings.namespace,
            )),
            FraudEngine::Frauddetector => {
                let sdk = crate::aws::engine_config(
                    "the frauddetector engine",
                    shared.settings.aws_region.as_deref(),
                    config.detector.endpoint_url.as_deref(),
                )
                .await?;
                Arc::new(DetectorScorer::new(
                    crate::observed_client!(aws_sdk_frauddetector, &sdk, &shared.metrics),
                    config.detector.clone(),
                ))
            }
        };
        let decisions = DecisionStore::new(
            Arc::clone(&shared.table),
            Duration::from_secs(config.retention_days * 86_400),
        );
        services.insert(Arc::new(Fraud::new(
            scorer,
            Duration::from_millis(config.timeout_millis),
            config.on_failure,
            decisions,
            &shared.metrics,
        )));
        Ok(())
    }
}
