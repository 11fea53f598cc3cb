//! Each simulator against the providers' documented examples (`tests/fixtures`, copied from
//! the documentation): its answers have the documented field names and JSON types, it accepts
//! the documented request bodies, and (ModelsLab) refuses field names the documentation does
//! not have, even where the client's own request type would accept them.

use std::time::Duration;

use cutout_sandbox::{Provider, Sandbox};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{disc_jpeg, disc_png, http, json, trimap_jpeg};

/// A documented example from `tests/fixtures` (at the workspace root).
fn fixture(path: &str) -> Value {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks that `answer` has the shape of `example`: the same keys in every object (none
/// missing, none added), the same JSON type for every value (JSON has one number type), array
/// items shaped like the example's first.
/// Objects under a key in `free` (echoes of the request) are only checked to be objects.
fn assert_shape(example: &Value, answer: &Value, path: &str, free: &[&str]) {
    let (want, got) = (kind(example), kind(answer));
    assert!(
        want == got,
        "{path}: documented as {want}, answered {got} ({answer})"
    );
    match (example, answer) {
        (Value::Object(example), Value::Object(answer)) => {
            let mut documented: Vec<&String> = example.keys().collect();
            let mut answered: Vec<&String> = answer.keys().collect();
            documented.sort();
            answered.sort();
            assert_eq!(answered, documented, "{path}: field names");
            for (key, value) in example {
                let here = format!("{path}.{key}");
                if !free.contains(&key.as_str()) {
                    assert_shape(value, &answer[key], &here, free);
                }
            }
        }
        (Value::Array(example), Value::Array(answer)) => {
            if let Some(first) = example.first() {
                for (i, item) in answer.iter().enumerate() {
                    assert_shape(first, item, &format!("{path}[{i}]"), free);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_shape_check_can_fail() {
    let example = json!({"id": 1, "output": ["a"], "meta": {"seed": 1}});
    let check = |answer: Value| {
        std::panic::catch_unwind(|| assert_shape(&example, &answer, "$", &[])).is_ok()
    };
    assert!(check(
        json!({"id": 2, "output": ["b", "c"], "meta": {"seed": 7}})
    ));
    assert!(!check(
        json!({"id": "2", "output": ["b"], "meta": {"seed": 7}})
    ));
    assert!(!check(json!({"id": 2, "output": [3], "meta": {"seed": 7}})));
    assert!(!check(
        json!({"id": 2, "output": ["b"], "meta": {"sed": 7}})
    ));
    assert!(!check(
        json!({"id": 2, "output": ["b"], "meta": {"seed": 7}, "extra": 1})
    ));
}

#[tokio::test]
async fn modelslab_answers_the_documented_example_to_the_documented_request() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    let mut body = fixture("modelslab/removebg_mask.request.documented.json");
    body["key"] = json!(sandbox.key(Provider::ModelsLab));
    body["image"] = json!(sandbox.host_file("subject.png", disc_png()).await);
    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    let (status, answer) = json(http().post(url).json(&body).send().await.expect("sent")).await;
    assert_eq!(status, 200, "{answer}");
    let example = fixture("modelslab/removebg_mask.success.documented.json");
    assert_shape(&example, &answer, "$", &[]);
}

#[tokio::test]
async fn modelslab_refuses_field_names_that_are_not_in_its_documentation() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    let image = sandbox.host_file("subject.png", disc_png()).await;
    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    // Each of these is what a wrong name in our spec would send; the client's request type
    // (serde, unknown fields ignored, every option defaulted) would read all of them.
    let misspelled = [
        ("only_masks", json!(true)),
        ("alphaMatting", json!(true)),
        ("webhook_url", json!("https://example.com/hook")),
        ("trackId", json!(7)),
    ];
    for (name, value) in misspelled {
        let mut body = json!({"key": sandbox.key(Provider::ModelsLab), "image": image});
        body[name] = value;
        let (status, answer) =
            json(http().post(&url).json(&body).send().await.expect("sent")).await;
        assert_eq!(status, 400, "{name}: {answer}");
        assert_eq!(answer["status"], "error", "{name}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{name}: {message}");
        let accepted: Result<modelslab::types::RemovebgMaskRequest, _> =
            serde_json::from_value(body);
        assert!(accepted.is_ok(), "the client's type reads `{name}` too");
    }
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 0);
}

#[tokio::test]
async fn backgroundcut_answers_the_documented_example_to_the_documented_request() {
    let sandbox = Sandbox::start().await.expect("starts");
    let base = sandbox.base_url(Provider::BackgroundCut);
    let auth = format!("Token {}", sandbox.key(Provider::BackgroundCut));
    for (key, bytes) in [
        ("my-project/photo.jpg", disc_jpeg()),
        ("my-project/trimap.jpg", trimap_jpeg()),
    ] {
        let form = Form::new()
            .part("file", Part::stream(bytes).file_name("upload.jpg"))
            .text("key", key);
        let response = http()
            .post(format!("{base}/v3/file-ops/upload/"))
            .header("Authorization", &auth)
            .multipart(form)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
    }
    let response = http()
        .post(format!("{base}/v3/tools/ai/matting/process/"))
        .header("Authorization", &auth)
        .json(&fixture("backgroundcut/matting.request.documented.json"))
        .send()
        .await
        .expect("sent");
    let (status, answer) = json(response).await;
    assert_eq!(status, 200, "{answer}");
    let example = fixture("backgroundcut/matting.response.documented.json");
    assert_shape(&example, &answer, "$", &[]);
    assert_eq!(answer, example, "the output key is the one asked for");
}

#[tokio::test]
async fn topaz_answers_a_submission_as_documented() {
    let sandbox = Sandbox::start().await.expect("starts");
    let form = Form::new().part("image", Part::stream(disc_png()).file_name("subject.png"));
    let response = http()
        .post(format!(
            "{}/matting/async",
            sandbox.base_url(Provider::Topaz)
        ))
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let (status, answer) = json(response).await;
    assert_eq!(status, 200, "{answer}");
    assert_shape(
        &fixture("topaz/matting_async.response.json"),
        &answer,
        "$",
        &[],
    );
}

#[tokio::test]
async fn tengr_answers_a_segmentation_and_an_error_as_documented() {
    let sandbox = Sandbox::start().await.expect("starts");
    let url = format!(
        "{}/v2/artworks/segmentation",
        sandbox.base_url(Provider::Tengr)
    );
    let image = sandbox.host_file("street.png", disc_png()).await;
    let auth = format!("Bearer {}", sandbox.key(Provider::Tengr));
    let body = json!({"imageUrl": image, "method": "text", "textPrompt": "disc"});
    let response = http()
        .post(&url)
        .header("Authorization", &auth)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let (status, answer) = json(response).await;
    assert_eq!(status, 202, "{answer}");
    let example = fixture("tengr/artwork.segmentation.documented.json");
    assert_shape(&example, &answer, "$", &["parameters"]);

    let response = http()
        .post(&url)
        .header("Authorization", &auth)
        .json(&json!({"imageUrl": image, "method": "lasso"}))
        .send()
        .await
        .expect("sent");
    let (status, answer) = json(response).await;
    assert_eq!(status, 400);
    assert_shape(&fixture("tengr/error.json"), &answer, "$", &[]);
}

#[tokio::test]
async fn backgroundcut_and_tengr_refuse_field_names_that_are_not_in_their_documentation() {
    let sandbox = Sandbox::start().await.expect("starts");
    let bc = sandbox.base_url(Provider::BackgroundCut);
    let token = format!("Token {}", sandbox.key(Provider::BackgroundCut));
    let cases = [
        (
            "/v3/tools/ai/matting/process/",
            json!({"input_key": "a.jpg", "trimap_key": "t.jpg", "output_key": "o.png",
                   "outputType": "rgba"}),
            "outputType",
        ),
        (
            "/v3/tools/ai/remove-bg/process/",
            json!({"input_key": "a.jpg", "output_variants": [{"output_key": "o.png",
                   "max_resolution": 100, "bg_color": "#fff"}]}),
            "bg_color",
        ),
        (
            "/v3/tools/ai/ai-cut/segment/",
            json!({"input_key": "a.jpg", "output_key": "o.jpg",
                   "foreground_points": [{"x": 1, "y": 1}], "points": []}),
            "points",
        ),
    ];
    for (path, body, name) in cases {
        let response = http()
            .post(format!("{bc}{path}"))
            .header("Authorization", &token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let (status, answer) = json(response).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{path}: {message}");
    }

    let image = sandbox.host_file("street.png", disc_png()).await;
    let response = http()
        .post(format!(
            "{}/v2/artworks/remove-background",
            sandbox.base_url(Provider::Tengr)
        ))
        .header(
            "Authorization",
            format!("Bearer {}", sandbox.key(Provider::Tengr)),
        )
        .json(&json!({"imageUrl": image, "output_format": "png"}))
        .send()
        .await
        .expect("sent");
    let (status, answer) = json(response).await;
    assert_eq!(status, 400, "{answer}");
    assert_shape(&fixture("tengr/error.json"), &answer, "$", &[]);
    assert_eq!(answer["message"], "property output_format should not exist");
    for provider in [Provider::BackgroundCut, Provider::Tengr] {
        assert_eq!(sandbox.submissions(provider), 0, "{provider}");
    }
}
