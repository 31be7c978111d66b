//! Profiles sealed for storage (personal data encrypted, bound to its owner and field) and
//! opened for the people allowed to read them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::documents::DocumentKind;
use crate::domain::ids::AccountId;
use crate::security::cipher::{Cipher, CipherError, Context};
use crate::store::profiles::{ParentRow, StudentRow};

/// A validated student profile, in clear.
#[derive(Debug, Clone)]
pub struct StudentProfile {
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub birth_date: NaiveDate,
    pub grade: u8,
    pub school: String,
    pub region: String,
    pub city: String,
    pub phone: String,
    pub snils: String,
    pub document_kind: DocumentKind,
    pub document: String,
    pub health: Option<Health>,
}

/// ОВЗ (limited health) status and needs: a special category of personal data, kept only
/// while a parent's health-data consent stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub disability: bool,
    pub needs: Vec<String>,
    pub details: Option<String>,
}

/// A validated parent profile, in clear.
#[derive(Debug, Clone)]
pub struct ParentProfile {
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub birth_date: NaiveDate,
    /// `None` once an administrator gave the SNILS to its rightful owner; the parent must
    /// enter theirs again.
    pub snils: Option<String>,
    pub phone: String,
}

/// A stored student profile, opened. Fields are `None` once erased.
#[derive(Debug, Clone)]
pub struct OpenStudent {
    pub account_id: Uuid,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub patronymic: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub grade: u8,
    pub school: Option<String>,
    pub region: String,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub snils: Option<String>,
    pub document_kind: Option<DocumentKind>,
    pub document: Option<String>,
    pub health: Option<Health>,
    pub erased: bool,
}

/// Seals and opens profiles with the data cipher.
#[derive(Clone)]
pub struct Vault {
    cipher: Cipher,
}

/// Field names bound into ciphertexts; also listed in `store::profiles::ENCRYPTED_COLUMNS`.
pub mod fields {
    pub const STUDENT_BIRTH_DATE: &str = "student.birth_date";
    pub const STUDENT_PHONE: &str = "student.phone";
    pub const STUDENT_SNILS: &str = "student.snils";
    pub const STUDENT_DOCUMENT: &str = "student.document";
    pub const STUDENT_HEALTH: &str = "student.health";
    pub const PARENT_BIRTH_DATE: &str = "parent.birth_date";
    pub const PARENT_SNILS: &str = "parent.snils";
    pub const PARENT_PHONE: &str = "parent.phone";
    pub const CONSENT_IDENTITY_PROOF: &str = "consent.identity_proof";
}

impl Vault {
    pub fn new(cipher: Cipher) -> Self {
        Self { cipher }
    }

    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    pub fn seal(&self, field: &str, owner: Uuid, value: &str) -> String {
        self.cipher.encrypt(value, &Context { field, owner })
    }

    pub fn open(&self, field: &str, owner: Uuid, stored: &str) -> Result<String, CipherError> {
        self.cipher.decrypt(stored, &Context { field, owner })
    }

    fn open_opt(
        &self,
        field: &str,
        owner: Uuid,
        stored: &Option<String>,
    ) -> Result<Option<String>, CipherError> {
        stored
            .as_deref()
            .map(|s| self.open(field, owner, s))
            .transpose()
    }

    pub fn seal_health(&self, owner: AccountId, health: &Health) -> String {
        let json = serde_json::to_string(health).expect("health data serializes");
        self.seal(fields::STUDENT_HEALTH, owner.0, &json)
    }

    pub fn seal_student(&self, owner: AccountId, profile: &StudentProfile) -> StudentRow {
        let id = owner.0;
        StudentRow {
            account_id: AccountId(id),
            surname: Some(profile.surname.clone()),
            given_name: Some(profile.given_name.clone()),
            patronymic: profile.patronymic.clone(),
            birth_date_enc: Some(self.seal(
                fields::STUDENT_BIRTH_DATE,
                id,
                &profile.birth_date.to_string(),
            )),
            grade: i16::from(profile.grade),
            school: Some(profile.school.clone()),
            region: profile.region.clone(),
            city: Some(profile.city.clone()),
            phone_enc: Some(self.seal(fields::STUDENT_PHONE, id, &profile.phone)),
            snils_enc: Some(self.seal(fields::STUDENT_SNILS, id, &profile.snils)),
            document_kind: Some(profile.document_kind.as_str().to_owned()),
            document_enc: Some(self.seal(fields::STUDENT_DOCUMENT, id, &profile.document)),
            health_enc: profile.health.as_ref().map(|h| self.seal_health(owner, h)),
            updated_at: chrono::Utc::now(),
            erased_at: None,
        }
    }

    pub fn open_student(&self, row: &StudentRow) -> Result<OpenStudent, CipherError> {
        let id = row.account_id;
        let health = self
            .open_opt(fields::STUDENT_HEALTH, id.0, &row.health_enc)?
            .map(|json| serde_json::from_str::<Health>(&json).map_err(|_| CipherError::Corrupt))
            .transpose()?;
        Ok(OpenStudent {
            account_id: id.0,
            surname: row.surname.clone(),
            given_name: row.given_name.clone(),
            patronymic: row.patronymic.clone(),
            birth_date: self
                .open_opt(fields::STUDENT_BIRTH_DATE, id.0, &row.birth_date_enc)?
                .and_then(|d| d.parse().ok()),
            grade: u8::try_from(row.grade).unwrap_or_default(),
            school: row.school.clone(),
            region: row.region.clone(),
            city: row.city.clone(),
            phone: self.open_opt(fields::STUDENT_PHONE, id.0, &row.phone_enc)?,
            snils: self.open_opt(fields::STUDENT_SNILS, id.0, &row.snils_enc)?,
            document_kind: row.document_kind.as_deref().and_then(DocumentKind::from_db),
            document: self.open_opt(fields::STUDENT_DOCUMENT, id.0, &row.document_enc)?,
            health,
            erased: row.erased_at.is_some(),
        })
    }

    pub fn seal_parent(&self, owner: AccountId, profile: &ParentProfile) -> ParentRow {
        let id = owner.0;
        ParentRow {
            account_id: AccountId(id),
            surname: profile.surname.clone(),
            given_name: profile.given_name.clone(),
            patronymic: profile.patronymic.clone(),
            birth_date_enc: self.seal(
                fields::PARENT_BIRTH_DATE,
                id,
                &profile.birth_date.to_string(),
            ),
            snils_enc: profile
                .snils
                .as_ref()
                .map(|snils| self.seal(fields::PARENT_SNILS, id, snils)),
            phone_enc: self.seal(fields::PARENT_PHONE, id, &profile.phone),
            updated_at: chrono::Utc::now(),
        }
    }

    pub fn open_parent(&self, row: &ParentRow) -> Result<ParentProfile, CipherError> {
        let id = row.account_id;
        Ok(ParentProfile {
            surname: row.surname.clone(),
            given_name: row.given_name.clone(),
            patronymic: row.patronymic.clone(),
            birth_date: self
                .open(fields::PARENT_BIRTH_DATE, id.0, &row.birth_date_enc)?
                .parse()
                .map_err(|_| CipherError::Corrupt)?,
            snils: self.open_opt(fields::PARENT_SNILS, id.0, &row.snils_enc)?,
            phone: self.open(fields::PARENT_PHONE, id.0, &row.phone_enc)?,
        })
    }
}
