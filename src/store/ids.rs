//! The typed ids of `domain::ids` as PostgreSQL `uuid` columns, so rows hold them
//! (`Option<OrganizationId>` included) and statements bind them as they are. Here, not in
//! `domain/`, which knows nothing of sqlx.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef, Postgres};
use uuid::Uuid;

use crate::domain::ids::{
    AccountId, AttemptId, ConsentId, DeliveryId, DomainEventId, EventId, InvitationId,
    LinkRequestId, NoticeId, NotificationId, OrganizationId, SessionId, SignupId, SnilsConflictId,
};

macro_rules! uuid_columns {
    ($($id:ty),* $(,)?) => {$(
        impl sqlx::Type<Postgres> for $id {
            fn type_info() -> PgTypeInfo {
                <Uuid as sqlx::Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <Uuid as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $id {
            fn array_type_info() -> PgTypeInfo {
                <Uuid as PgHasArrayType>::array_type_info()
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $id {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(Self(<Uuid as sqlx::Decode<'r, Postgres>>::decode(value)?))
            }
        }

        impl sqlx::Encode<'_, Postgres> for $id {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <Uuid as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
            }
        }
    )*};
}

uuid_columns!(
    AccountId,
    AttemptId,
    ConsentId,
    DeliveryId,
    DomainEventId,
    EventId,
    InvitationId,
    LinkRequestId,
    NoticeId,
    NotificationId,
    OrganizationId,
    SessionId,
    SignupId,
    SnilsConflictId,
);
