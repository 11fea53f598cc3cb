//! Every response example from the providers' docs (and every documented inconsistency) parses
//! into the generated types; a snapshot of each parsed value shows what a user gets.

use cutout_tests::fixture;

fn parse<T: serde::de::DeserializeOwned>(relative: &str) -> T {
    serde_json::from_value(fixture(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn modelslab_removebg_mask_answers() {
    use modelslab::types::RemovebgMaskResponse as R;
    let success: R = parse("modelslab/removebg_mask.success.documented.json");
    assert!(matches!(success, R::ResultSuccess(_)));
    let processing: R = parse("modelslab/removebg_mask.processing.json");
    assert!(matches!(processing, R::RemovebgMaskProcessing(_)));
    let error: R = parse("modelslab/error.json");
    assert!(matches!(error, R::ModelsLabError(_)));
    let old_spelling: R = parse("modelslab/error.messege.json");
    assert!(
        matches!(&old_spelling, R::ModelsLabError(e) if e.messege.as_ref().and_then(|m| m.as_str()) == Some("Invalid API key"))
    );
    insta::assert_debug_snapshot!((success, processing, error, old_spelling));
}

#[test]
fn modelslab_fetch_answers_with_output_as_a_string_or_an_array() {
    use modelslab::types::FetchResponse as F;
    let processing: F = parse("modelslab/fetch.processing.json");
    assert!(
        matches!(&processing, F::FetchProcessing(p) if p.output == Some(modelslab::types::PendingOutput::String(String::new())))
    );
    let success: F = parse("modelslab/removebg_mask.success.documented.json");
    assert!(matches!(success, F::ResultSuccess(_)));
    insta::assert_debug_snapshot!((processing, success));
}

#[test]
fn modelslab_rate_limit_and_webhooks_with_either_id_spelling() {
    use modelslab::types::{FlexibleId, ModelsLabError, WebhookPayload};
    let limited: ModelsLabError = parse("modelslab/rate_limited.json");
    assert_eq!(limited.retry_after, Some(30));
    let ok: WebhookPayload = parse("modelslab/webhook.success.json");
    let failed: WebhookPayload = parse("modelslab/webhook.failed.json");
    match (&ok, &failed) {
        (WebhookPayload::Success(ok), WebhookPayload::Failed(failed)) => {
            assert_eq!(ok.id, Some(FlexibleId::String("96708".to_owned())));
            assert_eq!(failed.id, Some(FlexibleId::Integer(96710)));
        }
        other => panic!("unexpected {other:?}"),
    }
    insta::assert_debug_snapshot!((limited, ok, failed));
}

#[test]
fn tengr_documented_artwork() {
    let artwork: artworks_seg::types::Artwork = parse("tengr/artwork.segmentation.documented.json");
    assert_eq!(artwork.status, artworks_seg::types::ArtworkStatus::Starting);
    insta::assert_debug_snapshot!(artwork);
}

#[test]
fn backgroundcut_documented_matting_response() {
    let answer: backgroundcut::types::OutputKeyResponse =
        parse("backgroundcut/matting.response.documented.json");
    assert_eq!(answer.output_key, "my-project/result.png");
    insta::assert_debug_snapshot!(answer);
}
