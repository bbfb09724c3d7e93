//! Holder notifications: on issue, suspend, reinstate, revoke and re-issue of a digital ID,
//! a short message to the beneficiary in their language.
//!
//! The phone number is personal data. It lives only on the person record, is read when the
//! message is sent, and is handed to the [`Notifier`] and nothing else: no log line, no
//! audit detail and no queue row carries it (nor the name). Messages are retried like
//! webhooks and given up (marked `failed`) after the same window.

use crate::app::App;
use crate::storage::{Attempt, NotificationRow, now_ms};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A secret setting (gateway credentials): `Debug` and `Display` never print it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// One message to one beneficiary.
pub struct Message {
    /// E.164 phone number (personal data: never logged).
    pub to: String,
    /// Text in the holder's language.
    pub text: String,
    /// `ar` or `en`.
    pub language: String,
    /// Which change it reports (`issued`, `revoked`, …).
    pub template: String,
    /// The event it reports.
    pub event_id: i64,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("language", &self.language)
            .field("template", &self.template)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// A boxed future (the trait is used as `dyn Notifier`).
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Where messages go. The error string must not hold the number or the text.
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Send one message.
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a>;
}

/// The default: a log line per message with its event, template, language and size — no
/// number, no name, no text.
#[derive(Debug, Default)]
pub struct LogSink;

impl Notifier for LogSink {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let (encoding, segments) = sms_segments(&m.text);
            tracing::info!(event.id = m.event_id, notification.template = %m.template,
                notification.language = %m.language, sms.encoding = encoding, sms.segments = segments,
                "holder notification (log sink)");
            Ok(())
        })
    }
}

/// An HTTP SMS gateway: POST a body made from a configured template.
#[derive(Debug)]
pub struct SmsGateway {
    url: String,
    auth: Option<Secret>,
    template: String,
    content_type: String,
    timeout: Duration,
}

impl SmsGateway {
    /// From the configuration.
    pub fn new(cfg: &crate::config::EventsConfig, url: String) -> Self {
        Self {
            url,
            auth: cfg.sms_gateway_auth.clone(),
            template: cfg.sms_template.clone(),
            content_type: cfg.sms_content_type.clone(),
            timeout: Duration::from_millis(cfg.webhook_timeout_ms),
        }
    }

    /// The request body for `m`: `{to}` and `{text}` become JSON strings.
    pub fn body(&self, m: &Message) -> String {
        let (encoding, segments) = sms_segments(&m.text);
        let json = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        self.template
            .replace("{to}", &json(&m.to))
            .replace("{text}", &json(&m.text))
            .replace("{segments}", &segments.to_string())
            .replace("{encoding}", encoding)
    }
}

impl Notifier for SmsGateway {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let auth = self.auth.as_ref().map(|s| s.expose().to_owned());
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| ("authorization", a))
                .into_iter()
                .collect();
            match crate::net::post(
                &self.url,
                &self.content_type,
                &headers,
                self.body(m).into_bytes(),
                self.timeout,
                16 * 1024,
            )
            .await
            {
                Ok((s, _)) if (200..300).contains(&s) => Ok(()),
                Ok((s, _)) => Err(format!("SMS gateway answered HTTP {s}")),
                Err(e) => Err(format!("SMS gateway: {}", e.message)),
            }
        })
    }
}

/// The notifier the configuration asks for.
pub fn from_config(cfg: &crate::config::EventsConfig) -> Arc<dyn Notifier> {
    match &cfg.sms_gateway_url {
        Some(u) if !u.is_empty() => Arc::new(SmsGateway::new(cfg, u.clone())),
        _ => Arc::new(LogSink),
    }
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM 03.38 extension table (an escape plus one septet: two each).
const GSM7_EXT: &str = "^{}\\[~]|€\u{c}";

/// `(encoding, segments)` of an SMS text: GSM-7 when every character is in the GSM 03.38
/// tables (160 septets single, 153 per part of a long message), otherwise UCS-2 (70 UTF-16
/// units single, 67 per part) — which is what any Arabic letter forces.
pub fn sms_segments(text: &str) -> (&'static str, usize) {
    let gsm: Option<usize> = text.chars().try_fold(0usize, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXT.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    });
    match gsm {
        Some(n) if n <= 160 => ("gsm7", 1),
        Some(n) => ("gsm7", n.div_ceil(153)),
        None => {
            let n = text.encode_utf16().count();
            if n <= 70 {
                ("ucs2", 1)
            } else {
                ("ucs2", n.div_ceil(67))
            }
        }
    }
}

/// The message text for `template` in `language` (from the string tables), naming the
/// credential and the agency.
pub fn message_text(template: &str, language: &str, credential_id: &str, agency: &str) -> String {
    let table = if language == "en" {
        &*crate::render::i18n::EN
    } else {
        &*crate::render::i18n::AR
    };
    table
        .get(&format!("sms_{template}"))
        .cloned()
        .unwrap_or_default()
        .replace("{id}", credential_id)
        .replace("{agency}", agency)
}

/// One round of notifications: fan out events up to `last_event`, send what is due. Returns whether a
/// full batch was leased (there may be more).
pub async fn round(app: &Arc<App>, last_event: i64) -> anyhow::Result<bool> {
    const BATCH: i64 = 32;
    if app.store.notification_cursor().await? < last_event {
        app.store.fan_out_notifications(500).await?;
    }
    let cfg = &app.config.events;
    let due = app
        .store
        .lease_notifications(BATCH, cfg.webhook_timeout_ms as i64 + 5_000)
        .await?;
    let busy = due.len() as i64 == BATCH;
    for n in due {
        let a = match send_one(app, &n).await {
            Ok(()) => Attempt::Done { status: None },
            Err(error) => {
                tracing::info!(notification.id = n.id, event.id = n.event_id,
                    notification.attempts = n.attempts + 1, error = %error, "holder notification failed");
                Attempt::Failed {
                    status: None,
                    error,
                    retry_at_ms: now_ms() + cfg.backoff().delay_ms(n.attempts) as i64,
                    give_up_before_ms: now_ms() - cfg.backoff().window_ms as i64,
                }
            }
        };
        app.store.record_notification(&n, &a).await?;
    }
    Ok(busy)
}

async fn send_one(app: &App, n: &NotificationRow) -> Result<(), String> {
    let event = app
        .store
        .get_event(n.event_id)
        .await
        .map_err(|e| e.to_string())?;
    let Some((to, language)) = app
        .store
        .person_contact(&n.person_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        // The number was removed since: nothing to send, nothing to retry.
        return Ok(());
    };
    let issuer = app.issuer(&event.event.agency_code);
    let agency = if language == "en" {
        issuer.name_en
    } else {
        issuer.name_ar
    };
    let cid = event.event.credential_id.unwrap_or_default();
    let m = Message {
        to,
        text: message_text(&n.template, &language, &cid, &agency),
        language,
        template: n.template.clone(),
        event_id: n.event_id,
    };
    app.notifier.send(&m).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_gsm7_and_ucs2() {
        assert_eq!(sms_segments(""), ("gsm7", 1));
        assert_eq!(sms_segments(&"a".repeat(160)), ("gsm7", 1));
        assert_eq!(sms_segments(&"a".repeat(161)), ("gsm7", 2));
        assert_eq!(sms_segments(&"a".repeat(306)), ("gsm7", 2));
        assert_eq!(sms_segments(&"a".repeat(307)), ("gsm7", 3));
        // Extension characters take two septets.
        assert_eq!(sms_segments(&"€".repeat(80)), ("gsm7", 1));
        assert_eq!(sms_segments(&"€".repeat(81)), ("gsm7", 2));
        // Arabic forces UCS-2: 70 single, 67 per part.
        assert_eq!(sms_segments(&"س".repeat(70)), ("ucs2", 1));
        assert_eq!(sms_segments(&"س".repeat(71)), ("ucs2", 2));
        assert_eq!(sms_segments(&"س".repeat(134)), ("ucs2", 2));
        assert_eq!(sms_segments(&"س".repeat(135)), ("ucs2", 3));
        // One Arabic letter in Latin text makes the whole message UCS-2.
        assert_eq!(sms_segments(&format!("{}س", "a".repeat(69))), ("ucs2", 1));
        assert_eq!(sms_segments(&format!("{}س", "a".repeat(70))), ("ucs2", 2));
        // A character outside the BMP is two UTF-16 units.
        assert_eq!(sms_segments(&"😀".repeat(35)), ("ucs2", 1));
        assert_eq!(sms_segments(&"😀".repeat(36)), ("ucs2", 2));
    }

    #[test]
    fn messages_in_both_languages_name_the_credential() {
        for t in ["issued", "suspended", "reinstated", "revoked", "reissued"] {
            let ar = message_text(t, "ar", "ABC123", "وزارة");
            let en = message_text(t, "en", "ABC123", "Ministry");
            assert!(ar.contains("ABC123") && ar.contains("وزارة"), "{t}: {ar}");
            assert!(
                en.contains("ABC123") && en.contains("Ministry"),
                "{t}: {en}"
            );
            assert_eq!(sms_segments(&ar).0, "ucs2");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s: Secret = "Bearer hunter2".parse().expect("secret");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
