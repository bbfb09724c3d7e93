//! Shared by the benches: issue credentials through the real issuance path.

use sanad::app::App;

/// Issue `n` document certificates (a 40-character Arabic recipient name) and return their
/// QR texts.
pub async fn issue_documents(app: &App, n: usize) -> Vec<String> {
    let actor = sanad::issuance::Actor {
        id: "bench".into(),
        agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
    };
    let mut texts = Vec::with_capacity(n);
    for i in 0..n {
        let doc = sanad::issuance::DocumentInput {
            meta: sanad::domain::DocumentMeta {
                doc_type: "letter".into(),
                number: format!("N-{i}"),
                title: "إفادة".into(),
                recipient_name: "عبدالرحمن محمد عبدالله إبراهيم العبدالله".into(),
                issue_date: "2026-11-20".into(),
            }
            .validate()
            .expect("meta"),
            digest: sanad::domain::DocumentDigest::of(format!("doc {i}").as_bytes()),
            file: None,
        };
        let c = sanad::issuance::issue_document(app, &actor, doc)
            .await
            .expect("issue");
        texts.push(sanad::issuance::qr_text(
            app.config.public_base(),
            &c.id,
            &c.token,
        ));
    }
    texts
}

/// Issue a digital ID to a new person (a 30-character Arabic name) and return its QR text.
#[allow(
    dead_code,
    reason = "each bench compiles this module on its own; not every one issues digital IDs"
)]
pub async fn issue_digital_id(app: &App) -> String {
    let actor = sanad::issuance::Actor {
        id: "bench".into(),
        agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
    };
    let now = sanad::storage::now();
    let person = sanad::storage::PersonRow {
        id: sanad::domain::PersonId::generate().to_string(),
        agency_code: actor.agency.to_string(),
        name_ar: "عبدالرحمن محمد عبدالله إبراهيم".into(),
        name_en: "Abdulrahman Mohammed".into(),
        date_of_birth: "1988-04-12".into(),
        national_id: "1000000000".into(),
        programme: "family of an inmate".into(),
        created_at: now,
        updated_at: now,
    };
    app.store
        .insert_person(&person, &actor.id)
        .await
        .expect("person");
    let pid = sanad::domain::PersonId::parse(&person.id).expect("pid");
    let c = sanad::issuance::issue_digital_id(app, &actor, &pid)
        .await
        .expect("issue");
    sanad::issuance::qr_text(app.config.public_base(), &c.id, &c.token)
}
