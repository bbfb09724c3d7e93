//! A beneficiary's person record as the registrar enters it. The national ID number is
//! personal data: it is stored for the registrar, never printed into a QR and never logged,
//! so its `Debug` is redacted.

use super::Invalid;
use serde::Deserialize;
use std::fmt;

/// A person's name in one script: 1–80 characters after trimming, no control characters.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    /// Parse a name; `field` names the input for the error message.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = t.chars().count();
        if n == 0 {
            return Err(Invalid::new(field, "must not be empty"));
        }
        if n > 80 {
            return Err(Invalid::new(field, "must be at most 80 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        Ok(Self(t))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

/// A national ID number: 5–20 ASCII letters or digits. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct NationalId(String);

impl NationalId {
    /// Parse a national ID number (spaces and dashes are dropped).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(5..=20).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Invalid::new(
                "national_id",
                "must be 5 to 20 letters or digits",
            ));
        }
        Ok(Self(t.to_ascii_uppercase()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NationalId(<redacted>)")
    }
}

/// The unvalidated JSON a registrar sends to create or update a person.
#[derive(Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    /// Full name in Arabic script, as it will be printed.
    pub name_ar: String,
    /// Full name in Latin script.
    pub name_en: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// National ID number (never printed into a QR).
    pub national_id: String,
    /// Programme or category, e.g. "family of an inmate".
    pub programme: String,
}

/// A validated person record, ready to store.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Name in Arabic script.
    pub name_ar: PersonName,
    /// Name in Latin script.
    pub name_en: PersonName,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// National ID number.
    pub national_id: NationalId,
    /// Programme or category.
    pub programme: String,
}

impl NewPerson {
    /// Validate a registrar's input.
    pub fn parse(input: PersonInput) -> Result<Self, Invalid> {
        let programme = input.programme.trim().to_owned();
        if programme.is_empty() || programme.chars().count() > 120 {
            return Err(Invalid::new("programme", "must be 1 to 120 characters"));
        }
        Ok(Self {
            name_ar: PersonName::parse("name_ar", &input.name_ar)?,
            name_en: PersonName::parse("name_en", &input.name_en)?,
            date_of_birth: parse_date("date_of_birth", &input.date_of_birth)?,
            national_id: NationalId::parse(&input.national_id)?,
            programme,
        })
    }
}

/// Accept a calendar date `YYYY-MM-DD` between 1900 and 2200.
pub(crate) fn parse_date(field: &'static str, s: &str) -> Result<String, Invalid> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s.trim(), &fmt) {
        Ok(d) if (1900..=2200).contains(&d.year()) => Ok(s.trim().to_owned()),
        _ => Err(Invalid::new(field, "must be a date YYYY-MM-DD")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PersonInput {
        PersonInput {
            name_ar: "  فاطمة   أحمد ".into(),
            name_en: "Fatima Ahmed".into(),
            date_of_birth: "1990-02-28".into(),
            national_id: "1234-567890".into(),
            programme: "family of an inmate".into(),
        }
    }

    #[test]
    fn parses_and_normalises() {
        let p = NewPerson::parse(input()).expect("valid");
        assert_eq!(p.name_ar.as_str(), "فاطمة أحمد");
        assert_eq!(p.national_id.as_str(), "1234567890");
        assert!(!format!("{p:?}").contains("1234567890"));
        assert!(!format!("{p:?}").contains("فاطمة"));
    }

    #[test]
    fn rejects_bad_fields() {
        let mut i = input();
        i.date_of_birth = "1990-02-30".into();
        assert_eq!(
            NewPerson::parse(i).err().map(|e| e.field),
            Some("date_of_birth")
        );
        let mut i = input();
        i.national_id = "12".into();
        assert_eq!(
            NewPerson::parse(i).err().map(|e| e.field),
            Some("national_id")
        );
        let mut i = input();
        i.name_ar = "x".repeat(81);
        assert_eq!(NewPerson::parse(i).err().map(|e| e.field), Some("name_ar"));
    }
}
