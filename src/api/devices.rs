//! Push devices: the app registers its token after login (and whenever it changes) and
//! removes it on logout. A token registered under another account moves to the caller
//! (a shared or resold phone). A token belongs to the session it was registered in: when
//! that session ends (logout, revocation, a password change or reset), it gets no more
//! pushes.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;

use super::ApiTag;
use super::auth::NoContentResponse;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::BearerAuth;
use crate::domain::devices::{DeviceToken, PushPlatform};
use crate::domain::names::ShortText;
use crate::http::problem::Problem;
use crate::notify::providers::{ChannelKind, ChannelMode};
use crate::state::AppState;
use crate::store;

pub struct DevicesApi;

/// Which push service the token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
pub enum DevicePlatform {
    /// Apple (APNs).
    #[oai(rename = "ios")]
    #[serde(rename = "ios")]
    Ios,
    /// Android with Google services (FCM).
    #[oai(rename = "android-fcm")]
    #[serde(rename = "android-fcm")]
    AndroidFcm,
    /// Android without Google services (RuStore).
    #[oai(rename = "android-rustore")]
    #[serde(rename = "android-rustore")]
    AndroidRustore,
}

impl DevicePlatform {
    fn push(self) -> (PushPlatform, ChannelKind) {
        match self {
            DevicePlatform::Ios => (PushPlatform::Apns, ChannelKind::Apns),
            DevicePlatform::AndroidFcm => (PushPlatform::Fcm, ChannelKind::Fcm),
            DevicePlatform::AndroidRustore => (PushPlatform::Rustore, ChannelKind::Rustore),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DevicePlatform::Ios => "ios",
            DevicePlatform::AndroidFcm => "android-fcm",
            DevicePlatform::AndroidRustore => "android-rustore",
        }
    }
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    pub platform: DevicePlatform,
    /// E.g. `3.4.1`.
    pub app_version: String,
    /// The device's language, e.g. `ru-RU`.
    pub locale: String,
}

/// A registered device.
#[derive(Debug, Object)]
pub struct DeviceView {
    pub platform: String,
    pub app_version: String,
    pub locale: String,
    pub registered_at: chrono::DateTime<chrono::Utc>,
}

#[derive(ApiResponse)]
pub enum DeviceResponse {
    #[oai(status = 200)]
    Ok(Json<DeviceView>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Notifications")]
impl DevicesApi {
    /// Register or refresh this device's push token for the caller. The token must have its
    /// platform's shape: APNs 64 hexadecimal characters; FCM a registration token (at least
    /// 100 base64url characters with a colon); RuStore at least 32 base64url characters.
    #[oai(path = "/devices/:token", method = "put", operation_id = "put_device")]
    async fn put_device(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        token: Path<String>,
        body: JsonBody<DeviceInput>,
    ) -> Result<DeviceResponse, Problem> {
        let mut fields = Fields::new();
        let (platform, channel) = body.platform.push();
        let simulated = matches!(state.channels.mode(channel), ChannelMode::Simulator { .. });
        let token = fields.check("token", DeviceToken::parse(&token.0, platform, simulated));
        let version = fields.check("app_version", ShortText::parse(&body.app_version, 32));
        let locale = fields.check("locale", ShortText::parse(&body.locale, 35));
        fields.finish()?;
        let (Some(token), Some(version), Some(locale)) = (token, version, locale) else {
            return Err(Problem::internal());
        };
        let row = store::devices::upsert(
            &state.db,
            token.as_str(),
            auth.0.account,
            Some(auth.0.session),
            body.platform.as_str(),
            version.as_str(),
            locale.as_str(),
        )
        .await?;
        Ok(DeviceResponse::Ok(Json(DeviceView {
            platform: row.platform,
            app_version: row.app_version,
            locale: row.locale,
            registered_at: row.created_at,
        })))
    }

    /// Remove this device's token (on logout); another account's token is 404.
    #[oai(
        path = "/devices/:token",
        method = "delete",
        operation_id = "delete_device"
    )]
    async fn delete_device(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        token: Path<String>,
    ) -> Result<NoContentResponse, Problem> {
        if store::devices::remove(&state.db, &token.0, auth.0.account).await? {
            Ok(NoContentResponse::Done)
        } else {
            Err(Problem::not_found("no such device"))
        }
    }
}
