//! The embedded identity provider: accounts in the store (argon2id password hashes, hashed
//! one-time codes), RS256 access tokens signed with the gateway's own key, and refresh tokens
//! that are revocable server-side sessions.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::{from_item, to_item};
use crate::store::{Condition, Key, StoreError, TTL_ATTRIBUTE, Table, Update};

use super::codes::{CodeDelivery, CodePurpose, code_hash, new_code};
use super::password::{check_password_policy, decoy_hash, hash_password, verify_password};
use super::{
    AccessClaims, Email, IdentityError, IdentityProvider, NewAccount, SessionTokens, SignUpOutcome,
    SigningKey,
};

/// Wrong guesses a code survives before it is void.
const MAX_CODE_ATTEMPTS: u32 = 5;
/// How long a sign-up confirmation code is good for.
const CONFIRM_CODE_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a password-reset code is good for.
const RESET_CODE_TTL: Duration = Duration::from_secs(3600);

/// How the embedded provider issues tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSettings {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The `client_id` (and `aud`) of its tokens.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token (session) lifetime.
    pub refresh_ttl: Duration,
    /// Accounts can sign in right after sign-up, without a code.
    pub auto_confirm: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingCode {
    hash: String,
    expires_at: DateTime<Utc>,
    attempts: u32,
}

impl PendingCode {
    fn new(sub: &str, code: &str, ttl: Duration) -> Self {
        Self {
            hash: code_hash(sub, code),
            expires_at: Utc::now()
                + chrono::Duration::from_std(ttl).expect("code lifetimes are small"),
            attempts: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountRecord {
    sub: String,
    email: String,
    password_hash: String,
    confirmed: bool,
    created_at: DateTime<Utc>,
    /// Sessions opened before this are void (set by a password reset).
    sessions_after: DateTime<Utc>,
    confirm: Option<PendingCode>,
    reset: Option<PendingCode>,
    /// Optimistic-concurrency counter.
    version: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    sub: String,
    email: String,
    /// The hash of the current refresh token's secret.
    secret_hash: String,
    /// Hashes of the secrets refreshes replaced, newest last: one presented again means the
    /// token was copied, and the whole session ends.
    #[serde(default)]
    retired: Vec<String>,
    created_at: DateTime<Utc>,
    revoked: bool,
}

/// How many replaced refresh tokens a session remembers, to spot a stolen one's use.
const RETIRED_KEPT: usize = 20;

fn new_secret() -> String {
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).expect("the system random source works");
    URL_SAFE_NO_PAD.encode(secret)
}

fn account_key(email: &Email) -> Key {
    Key::new(format!("ACCOUNT#{email}"), "ACCOUNT")
}

fn session_key(id: &str) -> Key {
    Key::new(format!("SESSION#{id}"), "SESSION")
}

/// The embedded provider.
pub struct EmbeddedIdentity {
    table: Arc<dyn Table>,
    key: Arc<SigningKey>,
    settings: EmbeddedSettings,
    delivery: Arc<dyn CodeDelivery>,
}

/// What checking a one-time code found.
enum CodeCheck {
    Valid,
    Wrong,
    Void,
}

fn check_code(pending: Option<&mut PendingCode>, sub: &str, code: &str) -> CodeCheck {
    let Some(pending) = pending else {
        return CodeCheck::Void;
    };
    if pending.expires_at < Utc::now() || pending.attempts >= MAX_CODE_ATTEMPTS {
        return CodeCheck::Void;
    }
    if pending.hash == code_hash(sub, code.trim()) {
        CodeCheck::Valid
    } else {
        pending.attempts += 1;
        CodeCheck::Wrong
    }
}

impl EmbeddedIdentity {
    /// A provider keeping accounts in `table`, signing with `key`, sending codes by `delivery`.
    pub fn new(
        table: Arc<dyn Table>,
        key: Arc<SigningKey>,
        settings: EmbeddedSettings,
        delivery: Arc<dyn CodeDelivery>,
    ) -> Self {
        Self {
            table,
            key,
            settings,
            delivery,
        }
    }

    async fn account(&self, email: &Email) -> Result<Option<AccountRecord>, IdentityError> {
        Ok(self
            .table
            .get(&account_key(email))
            .await?
            .map(|item| from_item(&item))
            .transpose()?)
    }

    /// Writes `account` if nobody changed it since it was read.
    async fn save(&self, mut account: AccountRecord) -> Result<(), IdentityError> {
        let read = account.version;
        account.version += 1;
        let email = Email::parse(&account.email)
            .map_err(|e| IdentityError::Internal(format!("a stored email is invalid: {e}")))?;
        let item = to_item(&account_key(&email), &account, &[])?;
        match self
            .table
            .put(item, Some(Condition::equals("version", read)))
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(IdentityError::Unavailable(
                "the account changed meanwhile; try again".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn access_token(
        &self,
        account_sub: &str,
        email: &str,
        session: &str,
    ) -> Result<(String, DateTime<Utc>), IdentityError> {
        let now = Utc::now();
        let expires_at = now
            + chrono::Duration::from_std(self.settings.access_ttl)
                .map_err(|e| IdentityError::Internal(e.to_string()))?;
        let issued = u64::try_from(now.timestamp()).unwrap_or(0);
        let claims = AccessClaims {
            sub: account_sub.to_owned(),
            iss: self.settings.issuer.clone(),
            exp: u64::try_from(expires_at.timestamp()).unwrap_or(0),
            iat: Some(issued),
            nbf: Some(issued),
            token_use: Some("access".into()),
            client_id: Some(self.settings.audience.clone()),
            aud: None,
            username: Some(account_sub.to_owned()),
            email: Some(email.to_owned()),
            sid: Some(session.to_owned()),
            jti: Some(uuid::Uuid::new_v4().to_string()),
        };
        Ok((self.key.sign(&claims)?, expires_at))
    }

    async fn open_session(&self, account: &AccountRecord) -> Result<SessionTokens, IdentityError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let secret = new_secret();
        let now = Utc::now();
        let record = SessionRecord {
            sub: account.sub.clone(),
            email: account.email.clone(),
            secret_hash: code_hash(&id, &secret),
            retired: Vec::new(),
            created_at: now,
            revoked: false,
        };
        let expires = now.timestamp()
            + i64::try_from(self.settings.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let item = to_item(
            &session_key(&id),
            &record,
            &[(TTL_ATTRIBUTE, expires.into())],
        )?;
        self.table.put(item, Some(Condition::ItemNotExists)).await?;
        let (access_token, expires_at) = self.access_token(&account.sub, &account.email, &id)?;
        Ok(SessionTokens {
            access_token,
            refresh_token: format!("{id}.{secret}"),
            expires_at,
        })
    }
}

impl EmbeddedIdentity {
    /// Ends a session whose replaced refresh token was presented again: a copy of it is in
    /// someone else's hands, and which holder is the customer cannot be told.
    async fn end_session_on_reuse(&self, id: &str, sub: &str) -> Result<(), IdentityError> {
        tracing::warn!(
            session = id,
            "a replaced refresh token was used again; the session ends"
        );
        match self
            .table
            .update(
                &session_key(id),
                &Update::set("revoked", true),
                Some(Condition::equals("sub", sub.to_owned())),
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl IdentityProvider for EmbeddedIdentity {
    async fn sign_up(&self, account: &NewAccount) -> Result<SignUpOutcome, IdentityError> {
        check_password_policy(&account.password, account.email.as_str())?;
        let sub = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let code = (!self.settings.auto_confirm).then(new_code);
        let record = AccountRecord {
            sub: sub.clone(),
            email: account.email.to_string(),
            password_hash: hash_password(&account.password).await?,
            confirmed: self.settings.auto_confirm,
            created_at: now,
            sessions_after: now,
            confirm: code
                .as_deref()
                .map(|c| PendingCode::new(&sub, c, CONFIRM_CODE_TTL)),
            reset: None,
            version: 0,
        };
        let item = to_item(&account_key(&account.email), &record, &[])?;
        match self.table.put(item, Some(Condition::ItemNotExists)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                // The owner hears of it; the caller answers as for a new account.
                self.delivery
                    .deliver(&account.email, CodePurpose::AccountExists, "");
                return Err(IdentityError::EmailTaken);
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(code) = code {
            self.delivery
                .deliver(&account.email, CodePurpose::ConfirmSignUp, &code);
        }
        Ok(SignUpOutcome {
            sub,
            confirmed: self.settings.auto_confirm,
        })
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), IdentityError> {
        let Some(mut account) = self.account(email).await? else {
            return Ok(());
        };
        if account.confirmed {
            return Ok(());
        }
        let code = new_code();
        account.confirm = Some(PendingCode::new(&account.sub, &code, CONFIRM_CODE_TTL));
        self.save(account).await?;
        self.delivery
            .deliver(email, CodePurpose::ConfirmSignUp, &code);
        Ok(())
    }

    async fn confirm_sign_up(&self, email: &Email, code: &str) -> Result<(), IdentityError> {
        let Some(mut account) = self.account(email).await? else {
            return Err(IdentityError::CodeMismatch);
        };
        if account.confirmed {
            // Answered as a wrong code would be: whether an account exists, and in which
            // state, is nobody's business but its owner's.
            return Err(IdentityError::CodeMismatch);
        }
        let sub = account.sub.clone();
        match check_code(account.confirm.as_mut(), &sub, code) {
            CodeCheck::Valid => {
                account.confirmed = true;
                account.confirm = None;
                self.save(account).await
            }
            CodeCheck::Wrong => {
                self.save(account).await?;
                Err(IdentityError::CodeMismatch)
            }
            CodeCheck::Void => Err(IdentityError::CodeExpired),
        }
    }

    async fn sign_in(&self, email: &Email, password: &str) -> Result<SessionTokens, IdentityError> {
        let Some(account) = self.account(email).await? else {
            // As slow as a wrong password, so response times do not reveal accounts.
            let _ = verify_password(password, decoy_hash().await).await;
            return Err(IdentityError::InvalidCredentials);
        };
        if !verify_password(password, &account.password_hash).await? {
            return Err(IdentityError::InvalidCredentials);
        }
        if !account.confirmed {
            return Err(IdentityError::NotConfirmed);
        }
        self.open_session(&account).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, IdentityError> {
        let Some((id, secret)) = refresh_token.trim().split_once('.') else {
            return Err(IdentityError::InvalidRefreshToken);
        };
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let Some(item) = self.table.get(&session_key(id)).await? else {
            return Err(IdentityError::InvalidRefreshToken);
        };
        let session: SessionRecord = from_item(&item)?;
        let expired = item
            .get(TTL_ATTRIBUTE)
            .and_then(serde_json::Value::as_i64)
            .is_none_or(|at| at < Utc::now().timestamp());
        if session.revoked || expired {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let presented = code_hash(id, secret);
        if session.secret_hash != presented {
            if session.retired.contains(&presented) {
                self.end_session_on_reuse(id, &session.sub).await?;
            }
            return Err(IdentityError::InvalidRefreshToken);
        }
        let email = Email::parse(&session.email)
            .map_err(|e| IdentityError::Internal(format!("a stored email is invalid: {e}")))?;
        let account = self.account(&email).await?;
        if account.is_none_or(|a| a.sub != session.sub || session.created_at < a.sessions_after) {
            return Err(IdentityError::InvalidRefreshToken);
        }
        // Rotation: the presented token is retired and a new one issued, only if nobody
        // rotated it meanwhile (then this is a reuse too: two holders of one token).
        let next = new_secret();
        let mut retired = session.retired;
        retired.push(presented.clone());
        let overflow = retired.len().saturating_sub(RETIRED_KEPT);
        retired.drain(..overflow);
        let rotation = Update::set("secret_hash", code_hash(id, &next)).and_set(
            "retired",
            serde_json::to_value(&retired).map_err(|e| IdentityError::Internal(e.to_string()))?,
        );
        match self
            .table
            .update(
                &session_key(id),
                &rotation,
                Some(Condition::equals("secret_hash", presented)),
            )
            .await
        {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => {
                self.end_session_on_reuse(id, &session.sub).await?;
                return Err(IdentityError::InvalidRefreshToken);
            }
            Err(e) => return Err(e.into()),
        }
        let (access_token, expires_at) = self.access_token(&session.sub, &session.email, id)?;
        Ok(SessionTokens {
            access_token,
            refresh_token: format!("{id}.{next}"),
            expires_at,
        })
    }

    async fn sign_out(
        &self,
        _access_token: &str,
        claims: &AccessClaims,
    ) -> Result<(), IdentityError> {
        let Some(id) = &claims.sid else {
            return Ok(());
        };
        match self
            .table
            .update(
                &session_key(id),
                &Update::set("revoked", true),
                Some(Condition::equals("sub", claims.sub.clone())),
            )
            .await
        {
            // Already gone (expired and swept): nothing left to revoke.
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn request_password_reset(&self, email: &Email) -> Result<(), IdentityError> {
        let Some(mut account) = self.account(email).await? else {
            return Ok(());
        };
        let code = new_code();
        account.reset = Some(PendingCode::new(&account.sub, &code, RESET_CODE_TTL));
        self.save(account).await?;
        self.delivery
            .deliver(email, CodePurpose::ResetPassword, &code);
        Ok(())
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        check_password_policy(new_password, email.as_str())?;
        let Some(mut account) = self.account(email).await? else {
            return Err(IdentityError::CodeMismatch);
        };
        let sub = account.sub.clone();
        match check_code(account.reset.as_mut(), &sub, code) {
            CodeCheck::Valid => {
                account.password_hash = hash_password(new_password).await?;
                account.reset = None;
                // The code came by email, which proves the address as a confirmation would.
                account.confirmed = true;
                account.confirm = None;
                account.sessions_after = Utc::now();
                self.save(account).await
            }
            CodeCheck::Wrong => {
                self.save(account).await?;
                Err(IdentityError::CodeMismatch)
            }
            CodeCheck::Void => Err(IdentityError::CodeExpired),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::identity::{KeySource, TokenVerifier, VerifierSettings};
    use crate::store::RedbTable;

    #[derive(Default)]
    struct Outbox(Mutex<Vec<(String, CodePurpose, String)>>);

    impl CodeDelivery for Outbox {
        fn deliver(&self, email: &Email, purpose: CodePurpose, code: &str) {
            self.0
                .lock()
                .expect("outbox")
                .push((email.to_string(), purpose, code.to_owned()));
        }
    }

    impl Outbox {
        fn last(&self) -> String {
            self.0
                .lock()
                .expect("outbox")
                .last()
                .expect("a code")
                .2
                .clone()
        }
    }

    fn provider(outbox: Arc<Outbox>) -> (EmbeddedIdentity, TokenVerifier) {
        let key = Arc::new(SigningKey::generate().expect("key").0);
        let settings = EmbeddedSettings {
            issuer: "urn:test".into(),
            audience: "shop".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            auto_confirm: false,
        };
        let verifier = TokenVerifier::new(
            VerifierSettings {
                issuer: "urn:test".into(),
                audience: "shop".into(),
                leeway: Duration::from_secs(30),
            },
            KeySource::fixed(key.jwks()),
        );
        let table = Arc::new(RedbTable::in_memory().expect("store"));
        (
            EmbeddedIdentity::new(table, key, settings, outbox),
            verifier,
        )
    }

    fn ada() -> NewAccount {
        NewAccount {
            email: Email::parse("ada@example.com").expect("email"),
            password: "correct horse 9".into(),
            first_name: None,
            last_name: None,
        }
    }

    #[tokio::test]
    async fn sign_up_confirm_sign_in_refresh_and_sign_out() {
        let outbox = Arc::new(Outbox::default());
        let (idp, verifier) = provider(Arc::clone(&outbox));
        let account = ada();
        let outcome = idp.sign_up(&account).await.expect("signed up");
        assert!(!outcome.confirmed);
        let code = outbox.last();
        assert!(matches!(
            idp.sign_up(&account).await,
            Err(IdentityError::EmailTaken)
        ));
        assert!(matches!(
            idp.sign_in(&account.email, &account.password).await,
            Err(IdentityError::NotConfirmed)
        ));
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert!(matches!(
            idp.confirm_sign_up(&account.email, wrong).await,
            Err(IdentityError::CodeMismatch)
        ));
        idp.confirm_sign_up(&account.email, &code)
            .await
            .expect("confirmed");
        assert!(matches!(
            idp.sign_in(&account.email, "wrong horse 9").await,
            Err(IdentityError::InvalidCredentials)
        ));
        let session = idp
            .sign_in(&account.email, &account.password)
            .await
            .expect("in");
        let claims = verifier
            .verify(&session.access_token)
            .await
            .expect("valid token");
        assert_eq!(claims.sub, outcome.sub);
        let renewed = idp
            .refresh(&session.refresh_token)
            .await
            .expect("refreshed");
        assert!(verifier.verify(&renewed.access_token).await.is_ok());
        assert_ne!(renewed.refresh_token, session.refresh_token, "rotated");
        let again = idp
            .refresh(&renewed.refresh_token)
            .await
            .expect("the new one works");
        idp.sign_out(&session.access_token, &claims)
            .await
            .expect("out");
        assert!(matches!(
            idp.refresh(&again.refresh_token).await,
            Err(IdentityError::InvalidRefreshToken)
        ));
    }

    #[tokio::test]
    async fn a_replaced_refresh_token_used_again_ends_the_session() {
        let outbox = Arc::new(Outbox::default());
        let (idp, _) = provider(Arc::clone(&outbox));
        let account = ada();
        idp.sign_up(&account).await.expect("signed up");
        idp.confirm_sign_up(&account.email, &outbox.last())
            .await
            .expect("confirmed");
        let stolen = idp
            .sign_in(&account.email, &account.password)
            .await
            .expect("in")
            .refresh_token;
        let customers = idp.refresh(&stolen).await.expect("the customer refreshes");
        assert!(matches!(
            idp.refresh(&stolen).await,
            Err(IdentityError::InvalidRefreshToken)
        ));
        assert!(
            matches!(
                idp.refresh(&customers.refresh_token).await,
                Err(IdentityError::InvalidRefreshToken)
            ),
            "the reuse ended the session for every holder"
        );
    }

    #[tokio::test]
    async fn of_concurrent_refreshes_with_one_token_at_most_one_succeeds() {
        let outbox = Arc::new(Outbox::default());
        let (idp, _) = provider(Arc::clone(&outbox));
        let idp = Arc::new(idp);
        let account = ada();
        idp.sign_up(&account).await.expect("signed up");
        idp.confirm_sign_up(&account.email, &outbox.last())
            .await
            .expect("confirmed");
        let token = idp
            .sign_in(&account.email, &account.password)
            .await
            .expect("in")
            .refresh_token;
        let refreshes = (0..8).map(|_| {
            let idp = Arc::clone(&idp);
            let token = token.clone();
            tokio::spawn(async move { idp.refresh(&token).await.is_ok() })
        });
        let mut succeeded = 0;
        for refresh in refreshes {
            succeeded += usize::from(refresh.await.expect("task"));
        }
        assert!(succeeded <= 1, "{succeeded} refreshes succeeded");
    }

    #[tokio::test]
    async fn a_code_is_void_after_five_wrong_guesses() {
        let outbox = Arc::new(Outbox::default());
        let (idp, _) = provider(Arc::clone(&outbox));
        let account = ada();
        idp.sign_up(&account).await.expect("signed up");
        let code = outbox.last();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..MAX_CODE_ATTEMPTS {
            assert!(matches!(
                idp.confirm_sign_up(&account.email, wrong).await,
                Err(IdentityError::CodeMismatch)
            ));
        }
        assert!(matches!(
            idp.confirm_sign_up(&account.email, &code).await,
            Err(IdentityError::CodeExpired)
        ));
        idp.resend_confirmation(&account.email)
            .await
            .expect("resent");
        let fresh = outbox.last();
        idp.confirm_sign_up(&account.email, &fresh)
            .await
            .expect("a resent code confirms");
    }

    #[tokio::test]
    async fn a_password_reset_ends_older_sessions() {
        let outbox = Arc::new(Outbox::default());
        let (idp, _) = provider(Arc::clone(&outbox));
        let account = ada();
        idp.sign_up(&account).await.expect("signed up");
        idp.confirm_sign_up(&account.email, &outbox.last())
            .await
            .expect("confirmed");
        let session = idp
            .sign_in(&account.email, &account.password)
            .await
            .expect("in");
        idp.request_password_reset(&account.email)
            .await
            .expect("requested");
        idp.request_password_reset(&Email::parse("nobody@example.com").expect("email"))
            .await
            .expect("unknown emails are not revealed");
        idp.reset_password(&account.email, &outbox.last(), "battery staple 7")
            .await
            .expect("reset");
        assert!(matches!(
            idp.refresh(&session.refresh_token).await,
            Err(IdentityError::InvalidRefreshToken)
        ));
        assert!(
            idp.sign_in(&account.email, "battery staple 7")
                .await
                .is_ok()
        );
        assert!(matches!(
            idp.sign_in(&account.email, &account.password).await,
            Err(IdentityError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn forged_refresh_tokens_are_refused() {
        let (idp, _) = provider(Arc::new(Outbox::default()));
        for token in [
            "",
            "abc",
            "abc.def",
            "../x.y",
            &format!("{}.x", "a".repeat(100)),
        ] {
            assert!(
                matches!(
                    idp.refresh(token).await,
                    Err(IdentityError::InvalidRefreshToken)
                ),
                "{token:?}"
            );
        }
    }
}
