//! Sending one notification, on a background task so that nothing waits for it: a webhook is an
//! HTTP POST of the payload JSON (5 s timeout, no retry, as Keboola documents); an email goes by
//! plain SMTP to the configured relay (`[notifications] smtp_url`). A failure is logged (the
//! webhook's host, never its path or query, which often hold a secret) and otherwise ignored.
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use super::Recipient;
use crate::app::AppState;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What is sent: the JSON a webhook receives, the subject and text of an email.
#[derive(Debug, Clone)]
pub struct Message {
    pub payload: Value,
    pub subject: String,
    pub text: String,
}

/// Send in the background; returns at once. Must be called inside the Tokio runtime (a handler,
/// the worker, or a blocking-pool thread of it).
pub fn send(state: &AppState, recipient: Recipient, message: Message) {
    let smtp = state.config.notifications_smtp.clone();
    let from = state.config.notifications_from.clone();
    tokio::runtime::Handle::current().spawn(async move {
        match recipient {
            Recipient::Webhook(url) => webhook(&url, &message.payload).await,
            Recipient::Email(to) => {
                let Some((host, port)) = smtp else {
                    tracing::warn!("notification email not sent: no SMTP server is configured ([notifications] smtp_url)");
                    return;
                };
                let sent = tokio::task::spawn_blocking(move || email(&host, port, &from, &to, &message)).await;
                match sent {
                    Ok(Ok(())) => tracing::debug!("notification email sent"),
                    Ok(Err(e)) => tracing::warn!("notification email not sent: {e}"),
                    Err(e) => tracing::warn!("notification email not sent: the sender panicked: {e}"),
                }
            }
        }
    });
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kbstack-notification")
            .build()
            .unwrap_or_default()
    })
}

/// The host of a URL, for the log.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

async fn webhook(url: &str, payload: &Value) {
    let host = host_of(url);
    match client().post(url).json(payload).send().await {
        Ok(resp) if resp.status().is_success() => tracing::debug!(host, "notification webhook delivered"),
        Ok(resp) => tracing::warn!(host, status = resp.status().as_u16(), "notification webhook refused"),
        Err(e) => {
            let why = if e.is_timeout() { "timed out".to_string() } else { e.without_url().to_string() };
            tracing::warn!(host, "notification webhook not delivered: {why}");
        }
    }
}

fn email(host: &str, port: u16, from: &str, to: &str, message: &Message) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::{SmtpTransport, Transport};
    let mail = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("the sender address {from:?} is not valid: {e}"))?)
        .to(to.parse().map_err(|e| format!("the recipient address is not valid: {e}"))?)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|e| e.to_string())?;
    // Plain SMTP to a relay the operator names (a local sink or smarthost).
    let mailer = SmtpTransport::builder_dangerous(host).port(port).timeout(Some(SMTP_TIMEOUT)).build();
    mailer.send(&mail).map(|_| ()).map_err(|e| format!("SMTP {host}:{port}: {e}"))
}
