//! The objects of `/oauth` (spec `Consumer`, `Credentials`; the credentials as the runner puts
//! them into `config.json`, developers docs "OAuth" interface). Secrets only ever as ciphers.
use serde::Serialize;

use crate::meta::oauth::{OAuthConsumer, OAuthCredentials};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub component_id: String,
    pub friendly_name: String,
    pub oauth_version: String,
    pub auth_url: String,
    pub token_url: String,
    pub request_token_url: Option<String>,
    pub app_key: String,
    /// A cipher bound to the component (never the plain secret).
    pub app_secret: String,
    /// The same, as Docker components read it.
    pub app_secret_docker: String,
    pub restrict_custom_auth: bool,
}

impl Consumer {
    /// `secret_cipher`: the app secret encrypted for the component (`oauth::component_cipher`).
    pub fn of(c: &OAuthConsumer, secret_cipher: String) -> Consumer {
        Consumer {
            component_id: c.component_id.clone(),
            friendly_name: c.friendly_name.clone(),
            oauth_version: c.oauth_version.clone(),
            auth_url: c.auth_url.clone(),
            token_url: c.token_url.clone(),
            request_token_url: c.request_token_url.clone(),
            app_key: c.app_key.clone(),
            app_secret: secret_cipher.clone(),
            app_secret_docker: secret_cipher,
            restrict_custom_auth: c.restrict_custom_auth,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Creator {
    pub id: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub id: String,
    pub branch_id: Option<String>,
    pub authorized_for: String,
    pub creator: Creator,
    pub created: String,
    pub oauth_version: String,
    pub app_key: String,
    /// The provider's answer (a JSON text), a cipher of the project and component.
    #[serde(rename = "#data")]
    pub data: String,
    #[serde(rename = "#appSecret")]
    pub app_secret: String,
}

impl Credentials {
    pub fn of(c: &OAuthCredentials) -> Credentials {
        Credentials {
            id: c.name.clone(),
            branch_id: c.branch_id.clone(),
            authorized_for: c.authorized_for.clone(),
            creator: Creator { id: c.creator_id.clone(), description: Some(c.creator_description.clone()) },
            created: c.created.clone(),
            oauth_version: c.oauth_version.clone(),
            app_key: c.app_key.clone(),
            data: c.data.clone(),
            app_secret: c.app_secret.clone(),
        }
    }

    pub fn list(cs: &[OAuthCredentials]) -> Vec<Credentials> {
        cs.iter().map(Credentials::of).collect()
    }
}
