//! What the platform's decoder makes of a written tree: it reads every write into the SDK's
//! typed structures (Go's `encoding/json`), so a known field holding a value of the wrong JSON
//! type refuses the whole write (400), a field no type has is dropped without a word, and a
//! field named in another case is stored under its own spelling.
//!
//! The types are the platform's model ([`promote_platform::model`], derived from the vendor's
//! spec), not promote's checks: the emulator exists to catch what promote gets wrong.

use serde_json::Value;

use promote_platform::model::{self, WrongType};

/// Reads `tree`, a whole tenant after the write, as the platform reads it. Returns every value
/// of the wrong type (the write is refused and `tree` is left as it was), or makes `tree` what
/// the platform stores: fields in the model's spelling, unknown fields dropped unless
/// `keep_unknown` (a platform newer than the spec keeps fields the spec does not know).
pub(crate) fn decode(tree: &mut Value, keep_unknown: bool) -> Result<(), Vec<WrongType>> {
    let model = model::tenant();
    let decoded = model::decode(model, tree);
    if !decoded.wrong_types.is_empty() {
        return Err(decoded.wrong_types);
    }
    model::canonicalize(model, tree, keep_unknown);
    Ok(())
}

/// Reads `document`, the body of an import or a merge patch (a tenant tree, or with
/// `workspace` a workspace tree), as the platform reads a body: the whole of it, before any
/// mode decides what of it is kept. Returns every value of the wrong type, at pointers into
/// the document.
pub(crate) fn sent(document: &Value, workspace: bool) -> Result<(), Vec<WrongType>> {
    let model = model::tenant();
    let shape = if workspace {
        model.shape_at(&["servers", "*"])
    } else {
        model.shape_at::<&str>(&[])
    };
    let Some(shape) = shape else {
        return Ok(());
    };
    let wrong = model.decode_as(&shape, document, "").wrong_types;
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_refuse_the_write_and_change_nothing() {
        let sent = json!({"servers": {"w": {"clients": {"c": {
            "client_uri": 42,
            "backchannel_logout_session_required": "yes"
        }}}}});
        let mut tree = sent.clone();
        let wrong = decode(&mut tree, false).unwrap_err();
        let at: Vec<&str> = wrong.iter().map(|w| w.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/servers/w/clients/c/backchannel_logout_session_required",
                "/servers/w/clients/c/client_uri"
            ]
        );
        assert_eq!(tree, sent);
    }

    #[test]
    fn a_sent_document_is_read_whole() {
        let ws = json!({"styling": {"colors": {"background": 0}}, "future": "x"});
        let wrong = sent(&ws, true).unwrap_err();
        assert_eq!(wrong[0].pointer, "/styling/colors/background");
        assert!(sent(&json!({"servers": {"w": ws}}), false).is_err());
        assert!(sent(&json!({"name": null, "future": 1}), false).is_ok());
    }

    #[test]
    fn unknown_fields_are_dropped_unless_kept_and_names_take_the_models_spelling() {
        let sent = json!({"name": "acme", "future_field": 1, "servers": {"w": {"clients": {"c": {
            "token_endpoint_auth_methd": "client_secret_basic",
            "Client_Name": "app",
            "metadata": {"anything": {"goes": [1]}}
        }}}}});
        let mut dropped = sent.clone();
        decode(&mut dropped, false).unwrap();
        assert_eq!(
            dropped,
            json!({"name": "acme", "servers": {"w": {"clients": {"c": {
                "client_name": "app",
                "metadata": {"anything": {"goes": [1]}}
            }}}}})
        );
        let mut kept = sent.clone();
        decode(&mut kept, true).unwrap();
        assert_eq!(kept["future_field"], 1);
        assert_eq!(
            kept["servers"]["w"]["clients"]["c"]["token_endpoint_auth_methd"],
            "client_secret_basic"
        );
        assert_eq!(kept["servers"]["w"]["clients"]["c"]["client_name"], "app");
    }
}
