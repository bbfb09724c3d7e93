//! Shared by the benches: issue document certificates through the real issuance path.

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
