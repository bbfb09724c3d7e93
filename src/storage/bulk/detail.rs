//! The audit entry of a chunk: counts, the hash committing to every item and the state of
//! every row it writes, worked out from the values the chunk binds.

use super::BulkChunk;
use super::writer::ACTIVE;
use crate::storage::chain::{BatchItem, items_hash};
use crate::storage::state::{Written, written_state};
use crate::storage::{NewCredential, PersonRow, StoreError};

impl BulkChunk {
    /// Work out the audit entry's detail now (hashing every item and row state), so that
    /// [`super::BulkWriter::insert_chunk`] does not: the import does it in its preparing stage,
    /// which overlaps the storing of the chunk before.
    pub fn seal(&mut self) -> Result<(), StoreError> {
        self.detail = if self.credentials.is_empty() && self.persons.is_empty() {
            None
        } else {
            Some(self.audit_detail()?)
        };
        Ok(())
    }

    /// The detail of the chunk's audit entry: counts, the hash committing to every item
    /// (checked by `audit verify`, see [`crate::storage::chain`]) and the state of every row
    /// it writes (see [`crate::storage::state`]), so a later edit of a bulk row is named like that
    /// of a row written one at a time. The states are hashed from the values the chunk
    /// binds rather than read back row by row (two queries a row, most of a chunk's round
    /// trips before); `audit verify` recomputes them from the stored rows.
    pub(super) fn audit_detail(&self) -> Result<String, StoreError> {
        let items: Vec<BatchItem<'_>> = self
            .credentials
            .iter()
            .map(|b| BatchItem {
                id: &b.c.id,
                person_id: b.c.person_id.as_deref(),
                kid: &b.c.kid,
                status_list: b.c.status_list,
                status_index: b.c.status_index,
                request_key: Some(&b.request_key),
                token: &b.c.token,
                doc_sha256: b.c.doc_sha256.as_deref(),
            })
            .collect();
        let persons: Vec<&str> = self.persons.iter().map(|p| p.p.id.as_str()).collect();
        let mut state = serde_json::Map::new();
        for b in &self.persons {
            let p = &b.p;
            let (k, h) = written_state("persons", &p.id, |c| person_value(p, c))?;
            state.insert(k, h.into());
        }
        for b in &self.credentials {
            let (k, h) = written_state("credentials", &b.c.id, |c| credential_value(&b.c, c))?;
            state.insert(k, h.into());
        }
        Ok(serde_json::json!({
            "agency": self.agency, "count": self.credentials.len(), "persons": self.persons.len(),
            "items": items_hash(&items, &persons),
            "state": state,
        })
        .to_string())
    }
}

/// A person's vouched column as [`super::writer::insert_persons`] writes it.
fn person_value<'a>(p: &'a PersonRow, column: &str) -> Option<Written<'a>> {
    Some(Written::Text(match column {
        "agency_code" => &p.agency_code,
        "name_ar" => &p.name_ar,
        "name_en" => &p.name_en,
        "date_of_birth" => &p.date_of_birth,
        "national_id" => &p.national_id,
        "programme" => &p.programme,
        _ => return None,
    }))
}

/// A credential's vouched column as [`super::writer::insert_credentials`] writes it.
fn credential_value<'a>(c: &'a NewCredential, column: &str) -> Option<Written<'a>> {
    let text = |s: Option<&'a str>| s.map_or(Written::Null, Written::Text);
    Some(match column {
        "agency_code" => Written::Text(&c.agency_code),
        "kind" => Written::Text(&c.kind),
        "person_id" => text(c.person_id.as_deref()),
        "kid" => Written::Text(&c.kid),
        "status" => Written::Text(ACTIVE),
        "status_reason_code" | "superseded_by" | "supersedes" => Written::Null,
        "issued_at" => Written::Int(c.issued_at),
        "name_printed" => Written::Text(&c.name_printed),
        "status_list" => Written::Int(c.status_list),
        "status_index" => Written::Int(c.status_index),
        "token" => Written::Text(&c.token),
        "subject_json" => Written::Text(&c.subject_json),
        "doc_sha256" => text(c.doc_sha256.as_deref()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_writer_knows_every_vouched_column() {
        let p = PersonRow {
            id: "P".into(),
            agency_code: "A".into(),
            name_ar: "n".into(),
            name_en: "n".into(),
            date_of_birth: "1990-01-01".into(),
            national_id: "1234567".into(),
            programme: "p".into(),
            created_at: 1,
            updated_at: 1,
        };
        let c = NewCredential {
            id: "C".into(),
            agency_code: "A".into(),
            kind: "digital_id".into(),
            person_id: Some("P".into()),
            kid: "k".into(),
            supersedes: None,
            issued_at: 1,
            name_printed: "n".into(),
            status_list: 1,
            status_index: 2,
            token: "t".into(),
            subject_json: "{}".into(),
            doc_sha256: None,
            doc_file: None,
            doc_media_type: None,
            created_by: "cli".into(),
        };
        let (k, h) = written_state("persons", &p.id, |col| person_value(&p, col)).expect("persons");
        assert_eq!((k.as_str(), h.len()), ("persons/P", 64));
        let (k, _) =
            written_state("credentials", &c.id, |col| credential_value(&c, col)).expect("creds");
        assert_eq!(k, "credentials/C");
        assert!(written_state("persons", "P", |_| None).is_err());
    }
}
